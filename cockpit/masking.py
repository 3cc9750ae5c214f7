"""The one secret masker: URLs, command lines and the records built from them.

Everything a person or a file sees goes through it: the panes (a source's shown URL),
explain, the confirmation's command, screenshots, the share stream, recordings and the
audit. A masked value becomes ``***``; its quotes, and everything that is not a secret,
stay as they were, so the command shown is still the command that would run.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Iterable
from typing import Any

MASK = "***"

# Names whose values are secrets, matched on word parts: "aws_secret_access_key",
# "Authorization", "api-key", "db_password", "X-Amz-Signature".
_SECRET_WORDS = frozenset({
    "password", "passwd", "pwd", "pass", "token", "secret", "key", "apikey", "auth",
    "authorization", "credential", "credentials", "signature", "sig", "cookie",
})
# Flags that take a secret as their value. A list, not a word match: `--no-auth-warning`
# and `--askpass` take none, and masking the word after them would hide the command.
_SECRET_FLAGS = frozenset({
    "--password", "--pass", "--passwd", "--token", "--secret", "--auth", "--api-key",
    "--apikey", "--access-token", "--bearer-token", "--client-secret", "--secret-access-key",
    "--aws-secret-access-key", "--requirepass", "--masterauth", "--user-password",
})
# redis-cli's `-a PASSWORD`; in other commands -a means something else.
_SHORT_FLAGS = {"-a": "redis-cli"}

# A value as a shell or a query writes it: quoted (the quotes are kept) or bare.
_VALUE = r"""(?:'[^']*'|"(?:[^"\\]|\\.)*"|[^\s'"&#;|]+)"""
# The lookbehind keeps this linear: without it, every letter of a long word starts a scheme.
_SCHEME_URL = re.compile(r"""(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://[^\s'"<>]+""")
_ASSIGN = re.compile(rf"""(?P<pre>(?:^|(?<=[\s?&;('"]))(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)=)(?P<v>{_VALUE})""")
_FLAG = re.compile(rf"""(?P<pre>(?:^|(?<=\s))(?P<flag>--?[A-Za-z][A-Za-z0-9-]*)(?:=|\s+))(?!-)(?P<v>{_VALUE})""")
_AUTH_HEADER = re.compile(
    r"(?P<pre>\bauthorization:\s*(?:bearer|basic|token)?\s*)(?P<v>[^\s'\"]+)", re.IGNORECASE
)
_COMMAND_BREAK = re.compile(r"[|;&\n]")
# A Slack incoming webhook is a URL whose path is the secret: /services/T…/B…/TOKEN (the lab's
# loopback one has the same shape), and anything on Slack's hooks hosts (workflow triggers).
_WEBHOOK_PATH = re.compile(r"/services/[TE][A-Z0-9]{2,}/B[A-Z0-9]{2,}/[A-Za-z0-9]+")
_HOOK_HOSTS = ("hooks.slack.com", "hooks.slack-gov.com")


@functools.lru_cache(maxsize=1024)  # the same few names come again and again (user=, id=)
def is_secret_name(name: str) -> bool:
    """``PGPASSWORD``, ``aws_secret_access_key``, ``apiKey``, ``X-Amz-Signature``: True."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()
    words = {w for w in re.split(r"[^a-z0-9]+", spaced) if w}
    if words & _SECRET_WORDS:
        return True
    # Glued names: PGPASSWORD, DBPASSWD, CLIENTSECRET, redis.conf's requirepass/masterauth.
    return any(w.endswith(("password", "passwd", "secret", "token")) for w in words) or bool(
        words & {"requirepass", "masterauth"}
    )


def _masked_value(value: str) -> str:
    """``***`` in the value's own quotes."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return f"{value[0]}{MASK}{value[0]}"
    return MASK


def mask_url(url: str) -> str:
    """The URL with its password (the user is kept) and secret query parameters as ``***``."""
    scheme, sep, rest = url.partition("://")
    if sep:
        end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
        authority, tail = rest[:end], rest[end:]
        userinfo, at, host = authority.rpartition("@")
        if at and ":" in userinfo:
            authority = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
        elif at and userinfo and scheme.lower() in ("http", "https"):
            authority = f"{MASK}@{host}"  # https://TOKEN@host: a user name alone is a token there
        if host.split(":")[0].lower() in _HOOK_HOSTS and tail.strip("/"):
            return f"{scheme}{sep}{authority}/{MASK}"
        url = f"{scheme}{sep}{authority}{_WEBHOOK_PATH.sub(f'/services/{MASK}', tail)}"
    path, q, query = url.partition("?")
    if not q:
        return url
    query, hash_, fragment = query.partition("#")
    parts = []
    for part in query.split("&"):
        name, eq, value = part.partition("=")
        parts.append(f"{name}={_masked_value(value)}" if eq and value and is_secret_name(name) else part)
    return f"{path}?{'&'.join(parts)}{hash_}{fragment}"


def _flag_takes_secret(flag: str, before: str) -> bool:
    if flag.lower() in _SECRET_FLAGS:
        return True
    program = _SHORT_FLAGS.get(flag)
    if program is None:
        return False
    command = _COMMAND_BREAK.split(before)[-1]  # the command this flag belongs to
    return re.search(rf"(?:^|[\s/]){re.escape(program)}\s", command) is not None


def mask_text(text: str) -> str:
    """A command line or a message with every secret in it masked."""
    if not text:
        return text
    # Log lines and records pass here by the thousand: skip the passes that cannot match.
    if "://" in text:
        text = _SCHEME_URL.sub(lambda m: mask_url(m.group()), text)
    if "uthorization" in text or "UTHORIZATION" in text:
        text = _AUTH_HEADER.sub(lambda m: m.group("pre") + MASK, text)

    def assign(m: re.Match[str]) -> str:
        if not is_secret_name(m.group("name")) or m.group("v").strip("'\"") == MASK:
            return m.group()
        return m.group("pre") + _masked_value(m.group("v"))

    if "=" in text:
        text = _ASSIGN.sub(assign, text)
    if "-" not in text:
        return text

    def flag(m: re.Match[str]) -> str:
        value = m.group("v")
        if not _flag_takes_secret(m.group("flag"), text[: m.start()]):
            return m.group()
        return m.group("pre") + _masked_value(value)

    return _FLAG.sub(flag, text)


_SVG_TEXT = re.compile(r"(<text\b[^>]*>)([^<]*)(</text>)")


def mask_svg_text(svg: str) -> str:
    """An SVG screenshot (Rich's export) with the text of each ``<text>`` element masked."""

    def node(m: re.Match[str]) -> str:
        text = html.unescape(m.group(2))
        masked = mask_text(text)
        if masked == text:
            return m.group()
        # Escaped back as Rich escapes it: spaces (and no-break spaces) as &#160;.
        body = html.escape(masked).replace(" ", "&#160;").replace("\u00a0", "&#160;")
        return m.group(1) + body + m.group(3)

    return _SVG_TEXT.sub(node, svg)


_VARIABLE = re.compile(r"\$[A-Z_][A-Z0-9_]*")


def shell_join(argv: Iterable[str]) -> str:
    """``shlex.join``, but a word that is only a variable (``$SENTRY_AUTH_TOKEN``, how a
    shown command names a token) is double-quoted: pasted, the shell puts the token there,
    where single quotes would send the variable's name as the token."""
    import shlex

    return " ".join(f'"{a}"' if _VARIABLE.fullmatch(a) else shlex.quote(a) for a in map(str, argv))


def mask_argv(argv: Iterable[str]) -> list[str]:
    """An argv with secrets masked: values of secret flags, assignments, URLs."""
    out: list[str] = []
    for arg in argv:
        arg = str(arg)
        previous = out[-1] if out else ""
        if (previous != MASK and not arg.startswith("-")
                and _flag_takes_secret(previous, " ".join(out[:-1]) + " ")):
            out.append(MASK)
            continue
        out.append(mask_text(arg))
    return out


def mask_secrets(obj: Any) -> Any:
    """A copy of ``obj`` with secret values masked: by key name in dicts, by form in strings."""
    if isinstance(obj, dict):
        return {
            k: (
                MASK
                if isinstance(k, str) and is_secret_name(k) and obj[k] not in ("", None)
                else mask_secrets(v)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [mask_secrets(v) for v in obj]
    if isinstance(obj, str):
        return mask_text(obj)
    return obj
