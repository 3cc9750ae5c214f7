"""helm: rollback as the on-call engineer met it on a machine without helm."""

from __future__ import annotations

from pathlib import Path

from cockpit.actions import ActionRunner, ConfirmRequest
from cockpit.audit import AuditLog
from cockpit.profile import Profile
from cockpit.registry import HELM_ROLLBACK

from .test_helm import lab_services  # noqa: F401 (a fixture)


async def test_without_helm_on_path_the_rollback_is_refused_before_the_name_is_typed(
        lab_services, tmp_path: Path, monkeypatch) -> None:  # noqa: F811
    """The lab's scanner-api offered `helm: rollback`, asked for its name typed, and only then
    said helm is not on PATH: an action that cannot succeed is not offered, and is refused
    (with the reason) before its confirmation."""
    src, _, _ = lab_services
    api = {r.name: r for r in await src.fetch()}["deployment/scanner-api"]
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    asked: list[str] = []

    async def confirm(req: ConfirmRequest) -> bool | str:
        asked.append(req.expected)
        return req.expected if req.typed else True

    runner = ActionRunner(profile=Profile(name="lab"), audit=AuditLog(tmp_path / "audit.jsonl"),
                          resolve_backend=lambda _id: src, confirm=confirm)
    outcome = await runner.request(HELM_ROLLBACK, api, None)
    assert outcome.status == "refused" and "helm is not on PATH" in outcome.message, outcome
    assert asked == []
