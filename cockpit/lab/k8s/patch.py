"""Patches and selectors as the API server applies them: merge, strategic merge and JSON
patches; label and field selectors.
"""

from __future__ import annotations

import copy
from typing import Any


def merge_patch(target: Any, patch: Any, *, strategic: bool = False) -> Any:
    """RFC 7386 merge; also what a strategic merge does for the maps the cockpit patches.

    Lists of named items (containers) merge by name, as a real strategic merge does.
    A strategic patch's ``"$patch": "replace"`` directive replaces the map it sits in whole,
    which is how ``kubectl rollout undo`` restores a StatefulSet's / DaemonSet's template.
    """
    if strategic and _named_list(patch) and _named_list(target):
        return _merge_by_name(target, patch)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if strategic and patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch" and v is not None}
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if strategic and k.startswith(("$setElementOrder/", "$retainKeys")):
            continue  # ordering / retention hints: the merge by name keeps the order
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v, strategic=strategic)
    return out


def _named_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, dict) and "name" in x for x in v)


def _merge_by_name(target: list[dict[str, Any]], patch: list[dict[str, Any]]) -> list[Any]:
    """The strategic merge of lists keyed by ``name`` (containers, env, ports): an item of the
    patch merges into the item of the same name (``kubectl set image`` sends only the image);
    ``{"$patch": "delete"}`` removes it; a new name is appended."""
    out = [copy.deepcopy(x) for x in target]
    for item in patch:
        i = next((j for j, x in enumerate(out) if x.get("name") == item["name"]), None)
        if item.get("$patch") == "delete":
            if i is not None:
                del out[i]
        elif i is None:
            out.append(copy.deepcopy(item))
        else:
            out[i] = merge_patch(out[i], item, strategic=True)
    return out


def json_patch(doc: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 add / replace / remove (what ``kubectl rollout undo`` sends)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            if isinstance(parent, list):
                idx = len(parent) if last == "-" else int(last)
                if op["op"] == "add":
                    parent.insert(idx, op["value"])
                else:
                    parent[idx] = op["value"]
            else:
                parent[last] = op["value"]
        elif op["op"] == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                parent.pop(last, None)
        else:
            raise ValueError(f"unsupported op {op['op']}")
    return doc


def _get_path(obj: dict[str, Any], dotted: str) -> Any:
    cur: Any = obj
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _matches_labels(obj: dict[str, Any], selector: str) -> bool:
    if not selector:
        return True
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in selector.split(","):
        term = term.strip()
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k.strip().rstrip("=")) != v.strip().lstrip("="):
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term and term not in labels:
            return False
    return True


def _matches_fields(obj: dict[str, Any], selector: str) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        neg = "!=" in term
        k, v = term.split("!=" if neg else "=", 1)
        actual = _get_path(obj, k.strip().rstrip("="))
        actual = "" if actual is None else str(actual)
        if (actual == v.strip().lstrip("=")) == neg:
            return False
    return True
