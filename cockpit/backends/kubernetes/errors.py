"""Errors from the API server and the kubeconfig, turned into what a user can act on."""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from cockpit.errors import BackendError, CockpitError, CredentialsError

if TYPE_CHECKING:
    pass


class KubeApiError(Exception):
    """A non-2xx answer, with the API's ``Status`` message when it sent one."""

    def __init__(self, status: int, reason: str, message: str = "") -> None:
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.message = message


def _check(resp: Any) -> Any:
    """Raise ``KubeApiError`` for an unloaded response (``preload_content=False``) that failed."""
    status = int(getattr(resp, "status", 200) or 200)
    if 200 <= status < 300:
        return resp
    try:
        body = json.loads(resp.data or b"{}")
    except ValueError:
        body = {}
    finally:
        with contextlib.suppress(Exception):
            resp.release_conn()
    raise KubeApiError(status, str(body.get("reason") or getattr(resp, "reason", "")),
                       str(body.get("message") or ""))


def translate(e: BaseException, what: str, ctx: str) -> CockpitError:
    """Any client, HTTP or config error -> a ``CockpitError`` with a hint."""
    if isinstance(e, CockpitError):
        return e
    status = getattr(e, "status", None)
    message = getattr(e, "message", "") or getattr(e, "reason", "") or str(e)
    if isinstance(status, int):
        if status == 401:
            return CredentialsError(
                f"{what}: unauthorised by {ctx}",
                f"renew the credentials of context {ctx} (kubectl --context {ctx} get ns)",
            )
        if status == 403:
            return BackendError(f"{what}: forbidden: {message}", "ask for RBAC access (kubectl auth can-i)")
        if status == 404:
            return BackendError(f"{what}: not found: {message}", "it may have been deleted; refresh")
        if status == 409:
            return BackendError(f"{what}: conflict: {message}", "someone changed it meanwhile; retry")
        if status == 429:
            return BackendError(f"{what}: throttled by the API server", "will retry")
        return BackendError(f"{what}: HTTP {status}: {message}", "")
    name = type(e).__name__
    if "SSLError" in name:
        return BackendError(f"{what}: TLS with the API server of {ctx} failed: {message}",
                            "check the context's certificate-authority and server address")
    if "MaxRetryError" in name or "NewConnectionError" in name or isinstance(e, OSError):
        return BackendError(f"{what}: cannot reach the API server of {ctx}",
                            "check the network/VPN and the context's server address")
    if "ProtocolError" in name or "ReadTimeout" in name or "IncompleteRead" in name:
        return BackendError(f"{what}: connection to {ctx} dropped", "will retry")
    return BackendError(f"{what}: {name}: {message}", "")


