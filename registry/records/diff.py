"""Field-level differences between entry versions: what the history pages, the API's
diff and evidence.pdf show of a change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from registry.records.models import Entry
from registry.records.reads import get_version


@dataclass(frozen=True)
class FieldChange:
    path: str
    change: str  # "added", "removed" or "changed"
    before: Any = None
    after: Any = None


def diff_bodies(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """Field-level differences between two bodies, with dotted paths (``person.email``,
    ``metrics[0].threshold``), in a stable order."""
    if isinstance(before, dict) and isinstance(after, dict):
        changes: list[FieldChange] = []
        for key in sorted(before.keys() | after.keys()):
            sub = f"{path}.{key}" if path else key
            if key not in after:
                changes.append(FieldChange(sub, "removed", before=before[key]))
            elif key not in before:
                changes.append(FieldChange(sub, "added", after=after[key]))
            else:
                changes.extend(diff_bodies(before[key], after[key], sub))
        return changes
    if isinstance(before, list) and isinstance(after, list):
        changes = []
        for i in range(max(len(before), len(after))):
            sub = f"{path}[{i}]"
            if i >= len(after):
                changes.append(FieldChange(sub, "removed", before=before[i]))
            elif i >= len(before):
                changes.append(FieldChange(sub, "added", after=after[i]))
            else:
                changes.extend(diff_bodies(before[i], after[i], sub))
        return changes
    if before == after and type(before) is type(after):
        return []
    return [FieldChange(path or "(body)", "changed", before=before, after=after)]


def diff_versions(session: Session, entry: Entry, a: int, b: int) -> list[FieldChange]:
    """What changed from version ``a`` to version ``b`` of an entry."""
    va, vb = get_version(session, entry, a), get_version(session, entry, b)
    return diff_bodies(json.loads(va.body), json.loads(vb.body))
