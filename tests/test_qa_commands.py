"""The equivalent command a confirmation shows: what a trainee copied from `sentry: resolve`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cockpit.actions import ActionRunner, ActionSpec, ConfirmRequest, Risk
from cockpit.audit import AuditLog
from cockpit.model import Alarm, Severity
from cockpit.profile import Profile


async def test_a_token_variable_in_a_shown_command_expands_when_pasted(tmp_path: Path) -> None:
    """`sentry: resolve` showed `--auth-token '$SENTRY_AUTH_TOKEN'`: single quotes, so the
    pasted command sends the variable's name as the token. Shown in double quotes, the shell
    puts the token there, and it is still never written out."""
    spec = ActionSpec(id="sentry.resolve_t", title="sentry: resolve", target_type=Alarm, capability=object,
                      risk=Risk.CHANGE, key=None, description="",
                      argv=lambda b, t, p: ["sentry-cli", "--auth-token", "$SENTRY_AUTH_TOKEN", "issues",
                                            "resolve", "--id", "4"])
    shown: list[str] = []

    async def confirm(req: ConfirmRequest) -> bool | str:
        shown.append(req.command)
        return False

    runner = ActionRunner(profile=Profile(name="lab"), audit=AuditLog(tmp_path / "audit.jsonl"),
                          resolve_backend=lambda _id: object(), confirm=confirm)
    alarm = Alarm(name="API-4 OperationalError", source="sentry:lab", severity=Severity.CRITICAL,
                  state="spike", reason="")
    await runner.request(spec, alarm, None)
    (command,) = shown
    assert command == 'sentry-cli --auth-token "$SENTRY_AUTH_TOKEN" issues resolve --id 4', command
    pasted = subprocess.run(["sh", "-c", command.replace("sentry-cli", "printf %s\\\\n", 1)],
                            capture_output=True, text=True, env={"SENTRY_AUTH_TOKEN": "s3cret"}, check=True)
    assert pasted.stdout.splitlines()[1] == "s3cret"
