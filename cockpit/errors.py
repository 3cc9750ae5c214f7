"""One exception root, so every pane can say what failed and what to do next."""

from __future__ import annotations


class CockpitError(Exception):
    """An error a user can act on: ``message`` says what failed, ``hint`` what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(CockpitError):
    """profiles.yaml is wrong; ``message`` is already ``PATH:LINE: key.path: expected``."""


class BackendError(CockpitError):
    """A backend call failed (network, auth, throttling, not found)."""


class CredentialsError(BackendError):
    """Credentials are missing or expired; the hint says how to renew them."""


class ActionRefused(CockpitError):
    """The ActionRunner refused an action (read-only, busy target, audit unavailable)."""
