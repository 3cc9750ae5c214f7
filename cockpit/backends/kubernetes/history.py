"""Rollout history of StatefulSets and DaemonSets, as ``kubectl rollout undo`` reads it.

Those controllers keep each pod template they ran as a ``ControllerRevision`` (apps/v1)
owned by the object, with an integer ``revision`` and a ``data`` field holding the
strategic-merge patch that restores the template (``{"spec": {"template": {...,
"$patch": "replace"}}}``). ``kubectl rollout undo`` lists the revisions matching the
object's selector, keeps those it controls, takes the second highest revision and PATCHes
its ``data`` onto the object as a strategic merge, verbatim. These functions are pure
(dicts in, dicts out) so they are tested without a server.
"""

from __future__ import annotations

from typing import Any

from cockpit.errors import BackendError


def selector_string(selector: dict[str, Any] | None) -> str:
    """A LabelSelector as the ``labelSelector`` query kubectl sends (LabelSelectorAsSelector)."""
    if not selector:
        return ""
    terms: list[tuple[str, str]] = []
    for k, v in (selector.get("matchLabels") or {}).items():
        terms.append((k, f"{k}={v}"))
    for e in selector.get("matchExpressions") or []:
        k, op, values = e.get("key", ""), e.get("operator", ""), sorted(e.get("values") or [])
        if op == "In":
            terms.append((k, f"{k} in ({','.join(values)})"))
        elif op == "NotIn":
            terms.append((k, f"{k} notin ({','.join(values)})"))
        elif op == "Exists":
            terms.append((k, k))
        elif op == "DoesNotExist":
            terms.append((k, f"!{k}"))
    return ",".join(t for _, t in sorted(terms))


def controlled_by(obj: dict[str, Any], owner: dict[str, Any]) -> bool:
    """metav1.IsControlledBy: an ownerReference to the owner's uid with controller: true."""
    uid = (owner.get("metadata") or {}).get("uid")
    return any(ref.get("uid") == uid and ref.get("controller")
               for ref in (obj.get("metadata") or {}).get("ownerReferences") or [])


def revision_number(cr: dict[str, Any]) -> int:
    try:
        return int(cr.get("revision") or 0)
    except (TypeError, ValueError):
        return 0


def history(owner: dict[str, Any], revisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ControllerRevisions the owner controls, oldest revision first."""
    return sorted((r for r in revisions if controlled_by(r, owner)), key=revision_number)


def template_patch(owner: dict[str, Any]) -> dict[str, Any]:
    """The patch a revision of the owner's current template would hold (kubectl's match test)."""
    template = dict(((owner.get("spec") or {}).get("template")) or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def image_of(data: dict[str, Any]) -> str:
    """The first container image of a revision's data (``api:1.4``), for a confirmation."""
    cs = ((((data.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
    if not cs:
        return ""
    short = str(cs[0].get("image", "")).rsplit("/", 1)[-1]
    return short + (f" +{len(cs) - 1}" if len(cs) > 1 else "")


def rollback_choice(ref: str, owner: dict[str, Any],
                    revisions: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(current, previous) ControllerRevisions, as kubectl's ``findHistory(0, ...)`` picks them.

    Raises ``BackendError`` when there is nothing to roll back to.
    """
    own = history(owner, revisions)
    if len(own) <= 1:
        raise BackendError(f"{ref} has no previous revision to roll back to",
                           "kubectl rollout history shows its revisions")
    return own[-1], own[-2]


def already_at(owner: dict[str, Any], revision: dict[str, Any]) -> bool:
    """The object runs that revision's template already (kubectl then skips the rollback)."""
    return revision.get("data") == template_patch(owner)
