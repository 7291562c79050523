"""Importing an inventory of AI systems from a spreadsheet (CSV or XLSX): one row per
system, its profile and, optionally, its business and technical owners.

- :func:`read_rows` reads the file (CSV as UTF-8, with or without a BOM; XLSX's first
  sheet through openpyxl) into a header and rows of text.
- :func:`plan` maps the columns onto fields (a header names a profile field by its name
  or its label, or the caller's ``mapping`` says which), validates every row with the
  kinds' own schemas, and says per row what an import would do: create, update, nothing.
  Errors are by row (as numbered in the file, the header being row 1) and column.
- :func:`apply` writes a plan without errors through the service layer (versioned
  creates and updates, each with one reason naming the file's SHA-256). Importing the
  same file again changes nothing; a changed row becomes a new version.

Nothing here commits: the caller's transaction holds the whole import.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.errors import InvalidInput
from registry.readiness.gate import check_promotion
from registry.records import reads, writes
from registry.records.kinds import KINDS, label, normalise_body

OWNER_ROLES = ("business", "technical")
# Columns of the owners: "<role>_owner_name" and "<role>_owner_email".
OWNER_FIELDS = {
    f"{role}_owner_{part}": (role, part) for role in OWNER_ROLES for part in ("name", "email")
}
PROFILE_FIELDS = tuple(KINDS["profile"].schema().fields)
TARGETS = (*(f for f in PROFILE_FIELDS if f != "attachments"), *OWNER_FIELDS)
MAX_ROWS = 100_000


class SheetUnreadable(InvalidInput):
    """The file is not a CSV or XLSX file the importer can read."""


@dataclass(frozen=True)
class CellError:
    row: int  # as numbered in the file (the header is row 1)
    column: str  # the column's header
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class RowPlan:
    row: int
    reference: str
    profile: dict[str, Any]
    owners: dict[str, dict[str, Any]]  # role -> owner body
    action: str = "create"  # create, update, unchanged


@dataclass
class Plan:
    filename: str
    sha256: str
    columns: dict[str, str]  # header -> field
    rows: list[RowPlan] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return f"Imported from {self.filename} (SHA-256 {self.sha256})"

    def counts(self) -> dict[str, int]:
        found = {"create": 0, "update": 0, "unchanged": 0}
        for r in self.rows:
            found[r.action] += 1
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.filename,
            "sha256": self.sha256,
            "columns": self.columns,
            "rows": len(self.rows),
            "actions": self.counts(),
            "errors": [e.to_dict() for e in self.errors],
        }


def read_rows(data: bytes, filename: str) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of a CSV or XLSX file, every cell as text ('' if empty)."""
    if filename.lower().endswith(".xlsx"):
        return _xlsx_rows(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SheetUnreadable(
            "The file is neither XLSX nor UTF-8 CSV.", {"file": ["Not UTF-8 text."]}
        ) from None
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return (rows[0] if rows else []), rows[1:]


def _xlsx_rows(data: bytes) -> tuple[list[str], list[list[str]]]:
    import openpyxl  # only for XLSX files: it costs a tenth of a second to import

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl's own errors alike
        raise SheetUnreadable(
            "The file is not a readable XLSX workbook.", {"file": [str(exc)[:200]]}
        ) from None
    sheet = book.worksheets[0]
    rows = [["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)]
    book.close()
    return (rows[0] if rows else []), rows[1:]


def _columns(header: list[str], mapping: dict[str, str]) -> tuple[dict[str, str], list[CellError]]:
    by_label = {label(f).lower(): f for f in TARGETS} | {f: f for f in TARGETS}
    columns, errors = {}, []
    for name in header:
        name = name.strip()
        target = mapping.get(name) or by_label.get(name.lower())
        if not name:
            continue
        if target is None:
            errors.append(CellError(1, name, "No field of that name: map it or remove it."))
        elif target not in TARGETS:
            errors.append(CellError(1, name, f"Mapped to {target!r}, which is no field."))
        elif target in columns.values():
            errors.append(CellError(1, name, f"A second column for {target!r}."))
        else:
            columns[name] = target
    if "reference" not in columns.values():
        errors.append(CellError(1, "reference", "The file needs a column of references."))
    errors += _owner_columns_missing(columns)
    return columns, errors


def _owner_columns_missing(columns: dict[str, str]) -> list[CellError]:
    """An owner is a name and an e-mail address: a file with a column of one needs a
    column of the other (a column naming neither is an error at the column it has)."""
    errors = []
    by_target = {target: column for column, target in columns.items()}
    for role in OWNER_ROLES:
        name, email = f"{role}_owner_name", f"{role}_owner_email"
        for has, lacks, what in ((email, name, "e-mail addresses"), (name, email, "names")):
            if has in by_target and lacks not in by_target:
                errors.append(
                    CellError(
                        1,
                        by_target[has],
                        f"The file gives the {role} owners' {what} but has no {lacks} "
                        f"column: add one (an owner needs a name and an e-mail address).",
                    )
                )
    return errors


def _errors_at(exc: ValidationError, row: int, where: dict[str, str]) -> list[CellError]:
    messages = exc.normalized_messages()
    found = []
    for name, problem in messages.items() if isinstance(messages, dict) else []:
        text = "; ".join(str(m) for m in problem) if isinstance(problem, list) else str(problem)
        found.append(CellError(row, where.get(name, name), text))
    return found


def plan(
    session: Session,
    data: bytes,
    filename: str,
    mapping: dict[str, str] | None = None,
) -> Plan:
    """What importing the file would do, and every error, by row and column. Reads the
    registry (what exists), writes nothing."""
    digest = hashlib.sha256(data).hexdigest()
    header, rows = read_rows(data, filename)
    columns, errors = _columns(header, mapping or {})
    result = Plan(filename, digest, columns, errors=errors)
    if len(rows) > MAX_ROWS:
        result.errors.append(CellError(MAX_ROWS + 2, "", f"More than {MAX_ROWS} rows."))
        return result
    if any(e.row == 1 for e in errors):
        return result
    index = [(i, columns.get(h.strip())) for i, h in enumerate(header)]
    where = {target: column for column, target in columns.items()}
    seen: dict[str, int] = {}
    for number, cells in enumerate(rows, start=2):
        values = {t: (cells[i].strip() if i < len(cells) else "") for i, t in index if t}
        if not any(values.values()):
            continue  # a blank line
        profile_in = {k: v for k, v in values.items() if k in PROFILE_FIELDS and v != ""}
        row_errors: list[CellError] = []
        try:
            profile = normalise_body("profile", profile_in)
        except ValidationError as exc:
            row_errors += _errors_at(exc, number, where)
            profile = {}
        owners = {}
        for role in OWNER_ROLES:
            name = values.get(f"{role}_owner_name", "")
            email = values.get(f"{role}_owner_email", "")
            if not (name or email):
                continue
            body = {"role": role, "person": {"name": name, "email": email}}
            try:
                owners[role] = normalise_body("owner", body)
            except ValidationError as exc:
                person = exc.normalized_messages().get("person", {})
                for part, problem in person.items() if isinstance(person, dict) else []:
                    column = where.get(f"{role}_owner_{part}", f"{role}_owner_{part}")
                    row_errors.append(CellError(number, column, "; ".join(map(str, problem))))
        reference = profile_in.get("reference", "")
        if reference in seen:
            row_errors.append(
                CellError(number, where["reference"], f"Also on row {seen[reference]}.")
            )
        seen.setdefault(reference, number)
        if row_errors:
            result.errors += row_errors
            continue
        result.rows.append(RowPlan(number, profile["reference"], profile, owners))
    _decide(session, result.rows)
    return result


def _decide(session: Session, rows: list[RowPlan]) -> None:
    """Each row's action, from the registry's current records (one read for all)."""
    references = [r.reference for r in rows]
    current = reads.heads_by_reference(session, references, "profile")
    owners = reads.heads_by_reference(session, references, "owner")
    for r in rows:
        if r.reference not in current:
            continue
        body = current[r.reference][0].body
        merged = {**body, **r.profile}
        recorded = {
            (o.body["role"], o.body["person"]["email"]): o.body for o in owners.get(r.reference, [])
        }
        owners_same = all(
            recorded.get((role, o["person"]["email"])) == {**o, **_kept(recorded, role, o)}
            for role, o in r.owners.items()
        )
        r.action = "unchanged" if merged == body and owners_same else "update"


def _kept(recorded: dict[tuple[str, str], Any], role: str, owner: dict[str, Any]) -> dict:
    """The fields of a recorded owner the file does not give (kept as they are)."""
    existing = recorded.get((role, owner["person"]["email"]), {})
    return {k: v for k, v in existing.items() if k not in owner}


def apply(session: Session, actor: Actor, found: Plan) -> dict[str, int]:
    """Write the plan through the service layer; refuse (422, nothing written) a plan
    with errors."""
    if found.errors:
        raise InvalidInput(
            f"The file has {len(found.errors)} error(s): nothing was imported.",
            {"file": [f"row {e.row}, {e.column}: {e.message}" for e in found.errors[:50]]},
        )
    reason = found.reason
    pending = [r for r in found.rows if r.action != "unchanged"]
    current = reads.heads_by_reference(session, [r.reference for r in pending], "profile")
    for r in pending:
        if r.action == "create":
            system, _ = writes.create_system(session, actor, r.profile, reason=reason)
            for owner in r.owners.values():
                writes.create_entry(session, actor, system, "owner", owner, reason=reason)
            continue
        (profile,) = current[r.reference]
        merged = {**profile.body, **r.profile}
        if merged != profile.body:
            writes.update_entry(
                session,
                actor,
                profile.entry_id,
                merged,
                base_version=profile.version.number,
                reason=reason,
                gate=check_promotion,
            )
        _owners(session, actor, r, reason)
    return found.counts()


def _owners(session: Session, actor: Actor, r: RowPlan, reason: str) -> None:
    system = reads.get_system(session, r.reference)
    recorded = {
        (e.body["role"], e.body["person"]["email"]): e
        for e in reads.system_state(session, system).entries
        if e.kind == "owner"
    }
    for role, owner in r.owners.items():
        existing = recorded.get((role, owner["person"]["email"]))
        if existing is None:
            writes.create_entry(session, actor, system, "owner", owner, reason=reason)
            continue
        merged = {**existing.body, **owner}
        if merged != existing.body:
            writes.update_entry(
                session,
                actor,
                existing.entry_id,
                merged,
                base_version=existing.version.number,
                reason=reason,
            )


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """``Header=field`` pairs (the CLI's and the form's column mapping)."""
    mapping = {}
    for pair in pairs:
        header, sep, target = pair.partition("=")
        if not sep or not header.strip() or not target.strip():
            raise InvalidInput(
                "A column mapping is Header=field.", {"map": [f"{pair!r} is not Header=field."]}
            )
        mapping[header.strip()] = target.strip()
    return mapping
