"""Records as people read them: the one formatter of the web pages and evidence.pdf.

A body field becomes a :class:`Shown`: its label (from ``kinds.LABELS``, else its
words) and its value as text, and, where the value has a shape, as a list of items or
a table. Each surface draws the shape its own way (HTML lists and tables on the web,
lines and nested tables in the PDF) from the same strings:

- persons as ``Name <e-mail>``; booleans as Yes/No; enumerated values as words;
- instants as ``YYYY-MM-DD HH:MM:SS UTC`` (no microseconds), dates as ``YYYY-MM-DD``;
- money with its currency; a monitoring plan's metrics as a table;
- attachments as name and short hash (a link when they have a URI);
- a reference to another entry (a review's procedure) as that entry's label.

Pure: no Flask, no database. A surface that can resolve references to other entries
passes ``refs``: entry id -> (label, address or None).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from marshmallow import fields, validate

from registry.records.kinds import KINDS, Instant, IsoDate, Money, label
from registry.records.kinds import risk_tier as risk_tier  # a tier as the pages show it

NOT_RECORDED = "not recorded"
SHORT_HASH = 12

Refs = Callable[[int], "tuple[str, str | None] | None"]


@dataclass(frozen=True)
class Item:
    text: str
    href: str | None = None


@dataclass(frozen=True)
class Grid:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Shown:
    """A field as people read it. ``text`` is always the whole value on one or more
    lines; ``items`` (a list), ``grid`` (a table) or ``href`` (a link) give its shape."""

    name: str
    label: str
    text: str
    items: tuple[Item, ...] = ()
    grid: Grid | None = None
    href: str | None = None

    @property
    def is_list(self) -> bool:
        return bool(self.items)


# --- single values ----------------------------------------------------------------------


def instant(value: dt.datetime | str) -> str:
    """An instant in the one format: UTC, to the second, with its zone."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:  # stored instants are UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def date(value: dt.date | dt.datetime | str) -> str:
    if isinstance(value, str):
        return dt.date.fromisoformat(value[:10]).isoformat()
    if isinstance(value, dt.datetime):
        return instant(value)[:10]
    return value.isoformat()


def words(value: str) -> str:
    """An enumerated value as words: ``human_oversight`` -> ``human oversight``."""
    return value.replace("_", " ")


def yes_no(value: bool) -> str:
    return "Yes" if value else "No"


def person(value: dict[str, Any]) -> str:
    name, email = value.get("name"), value.get("email")
    if name and email:
        return f"{name} <{email}>"
    return str(name or email or NOT_RECORDED)


def money(amount: str | decimal.Decimal, currency: str | None) -> str:
    try:
        text = format(decimal.Decimal(amount), ",.2f")
    except (decimal.InvalidOperation, ValueError):
        text = str(amount)
    return f"{text} {currency}" if currency else text


def short_hash(digest: str) -> str:
    return digest[:SHORT_HASH] + "…" if len(digest) > SHORT_HASH else digest


def entry_reference(kind: str, name: str, entry_id: int) -> str:
    """How one entry names another: ``Review procedure: periodic (entry 3)``."""
    title = KINDS[kind].title if kind in KINDS else words(kind)
    return f"{title}: {name} (entry {entry_id})"


def plain(value: Any) -> str:
    """Any JSON value as text, without knowing its field: persons, booleans, lists."""
    if value is None or value == "" or value == [] or value == {}:
        return NOT_RECORDED
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, dict):
        if "email" in value and "name" in value:
            return person(value)
        return "; ".join(f"{label(k)}: {plain(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(plain(v) for v in value)
    return str(value)


# --- fields of a kind -------------------------------------------------------------------


def _choices(f: fields.Field) -> bool:
    return any(isinstance(v, validate.OneOf) for v in f.validators)


def _nested_fields(f: fields.Nested) -> dict[str, fields.Field]:
    return dict(f.schema.fields)


def _is_person(f: fields.Field) -> bool:
    return isinstance(f, fields.Nested) and set(_nested_fields(f)) >= {"name", "email"}


_FIELDS: dict[str, dict[str, fields.Field]] = {}


def _fields(kind: str) -> dict[str, fields.Field]:
    if kind not in _FIELDS:
        _FIELDS[kind] = dict(KINDS[kind].schema().fields)
    return _FIELDS[kind]


def field_at(kind: str, path: str) -> fields.Field | None:
    """The schema field a body path names (``metrics[0].threshold``, ``person.email``)."""
    current: dict[str, fields.Field] | None = _fields(kind) if kind in KINDS else None
    found: fields.Field | None = None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            if isinstance(found, fields.List):
                found = found.inner
                current = _nested_fields(found) if isinstance(found, fields.Nested) else None
            continue
        if current is None or part not in current:
            return None
        found = current[part]
        current = _nested_fields(found) if isinstance(found, fields.Nested) else None
    return found


def path_label(path: str) -> str:
    """A body path as words: ``metrics[0].threshold`` -> ``Metrics 1 · Threshold``."""
    out = []
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        if part.startswith("["):
            out[-1] += f" {int(part[1:-1]) + 1}"
        else:
            out.append(label(part))
    return " · ".join(out) or path


def _item_of(f: fields.Field | None, value: Any) -> str:
    if isinstance(value, str) and f is not None and _choices(f):
        return words(value)
    return plain(value) if not isinstance(value, str) else value


def _metric_grid(f: fields.Nested, rows: list[Any]) -> Grid:
    names = list(_nested_fields(f))
    header = tuple(label(n) for n in names)
    out = []
    for row in rows:
        row = row if isinstance(row, dict) else {}
        cells = []
        for n in names:
            v = row.get(n)
            if v is None:
                cells.append("")
            elif isinstance(v, float) and v.is_integer():
                cells.append(str(int(v)))
            else:
                cells.append(_item_of(_nested_fields(f)[n], v))
        out.append(tuple(cells))
    return Grid(header, tuple(out))


# Where the web serves a stored document (registry/web/documents.py).
DOCUMENT_PATH = "/documents/{}"


def _attachment(value: dict[str, Any]) -> Item:
    """An attachment by name and short hash: an external reference (with a URI) links
    to its address, a stored document to its download."""
    text = str(value.get("name") or "attachment")
    sha256 = value.get("sha256")
    if sha256:
        text += f" (SHA-256 {short_hash(str(sha256))})"
    uri = value.get("uri")
    if uri:
        return Item(text, uri if isinstance(uri, str) and _is_web_address(uri) else None)
    return Item(text, DOCUMENT_PATH.format(sha256) if isinstance(sha256, str) else None)


def _is_web_address(uri: str) -> bool:
    return uri.startswith(("https://", "http://"))


def _evidence_ref(value: dict[str, Any], refs: Refs | None) -> Item:
    kind = value.get("kind")
    title = KINDS[kind].title if kind in KINDS else "Entry"
    entry_id = value.get("entry_id")
    text = f"{title} {entry_id}, version {value.get('version')}"
    if value.get("hash"):
        text += f" (SHA-256 {short_hash(str(value['hash']))})"
    found = refs(entry_id) if refs and isinstance(entry_id, int) else None
    return Item(text, found[1] if found else None)


def value(
    f: fields.Field | None,
    name: str,
    raw: Any,
    *,
    body: dict[str, Any] | None = None,
    refs: Refs | None = None,
) -> Shown:
    """One value of field ``f`` (``None``: unknown field) as people read it."""
    lab = label(name)
    if raw is None or raw == "" or raw == []:
        return Shown(name, lab, NOT_RECORDED)
    if isinstance(raw, bool):
        return Shown(name, lab, yes_no(raw))
    if isinstance(raw, list):
        return _list_value(f, name, lab, raw, refs)
    if isinstance(f, fields.Nested) and isinstance(raw, dict):
        return _nested_value(f, name, lab, raw)
    return _single_value(f, name, lab, raw, body, refs)


def _list_value(
    f: fields.Field | None, name: str, lab: str, raw: list[Any], refs: Refs | None
) -> Shown:
    """A list's items as people read them: documents, cited versions, people, the
    items of a list field, or a grid of metrics; a list no field describes, plainly."""
    if not isinstance(f, fields.List):
        items = tuple(Item(plain(v)) for v in raw)
    elif not isinstance(f.inner, fields.Nested):
        items = tuple(Item(_item_of(f.inner, v)) for v in raw)
    else:
        inner = f.inner
        dicts = [v for v in raw if isinstance(v, dict)]
        if name == "attachments":
            items = tuple(_attachment(v) for v in dicts)
        elif set(_nested_fields(inner)) >= {"entry_id", "version", "hash"}:
            items = tuple(_evidence_ref(v, refs) for v in dicts)
        elif _is_person(inner):
            items = tuple(Item(person(v)) for v in dicts)
        else:
            grid = _metric_grid(inner, raw)
            text = "\n".join(
                "; ".join(f"{h}: {c}" for h, c in zip(grid.header, row, strict=True) if c)
                for row in grid.rows
            )
            return Shown(name, lab, text, grid=grid)
    return Shown(name, lab, "\n".join(i.text for i in items), items=items)


def _nested_value(f: fields.Nested, name: str, lab: str, raw: dict[str, Any]) -> Shown:
    """An object: a person, a document, or its fields plainly."""
    if _is_person(f):
        return Shown(name, lab, person(raw))
    if name == "attachments":
        item = _attachment(raw)
        return Shown(name, lab, item.text, href=item.href)
    return Shown(name, lab, plain(raw))


def _single_value(
    f: fields.Field | None,
    name: str,
    lab: str,
    raw: Any,
    body: dict[str, Any] | None,
    refs: Refs | None,
) -> Shown:
    """A single value by its field: an instant, a date, an amount (in the body's
    currency), a web address, an entry named by id, a choice, or its text."""
    if isinstance(f, Instant) and isinstance(raw, str):
        try:
            return Shown(name, lab, instant(raw))
        except ValueError:
            return Shown(name, lab, raw)
    if isinstance(f, IsoDate) and isinstance(raw, str):
        return Shown(name, lab, raw)
    if isinstance(f, Money):
        currency = (body or {}).get("currency")
        return Shown(name, lab, money(raw, currency if isinstance(currency, str) else None))
    if isinstance(f, fields.Url) and isinstance(raw, str):
        return Shown(name, lab, raw, href=raw if _is_web_address(raw) else None)
    if isinstance(f, fields.Integer) and f.metadata.get("refers_to") and isinstance(raw, int):
        found = refs(raw) if refs else None
        if found:
            return Shown(name, lab, found[0], href=found[1])
        return Shown(name, lab, f"entry {raw}")
    if isinstance(raw, str) and f is not None and _choices(f):
        return Shown(name, lab, words(raw))
    if isinstance(raw, dict):
        return Shown(name, lab, plain(raw))
    return Shown(name, lab, str(raw))


def _ordered(kind: str, body: dict[str, Any]) -> Iterable[str]:
    """The body's fields in the schema's order, attachments last, unknown ones after."""
    declared = [n for n in _fields(kind) if n != "attachments"] + ["attachments"]
    yield from (n for n in declared if n in body)
    yield from (n for n in body if n not in declared)


# A field folded into another's value: the currency goes with the budget.
_FOLDED = {"currency": "budget"}


def fields_of(
    kind: str,
    body: dict[str, Any],
    *,
    refs: Refs | None = None,
    names: Iterable[str] | None = None,
) -> list[Shown]:
    """The fields of a body of ``kind`` as people read them, in the schema's order (or
    ``names``, which may include fields the body lacks: they read "not recorded")."""
    known = _fields(kind) if kind in KINDS else {}
    chosen = list(names) if names is not None else list(_ordered(kind, body))
    out = []
    for name in chosen:
        folded_into = _FOLDED.get(name)
        if folded_into and folded_into in body and folded_into in known:
            continue
        out.append(value(known.get(name), name, body.get(name), body=body, refs=refs))
    return out


def at_path(
    kind: str, path: str, raw: Any, *, body: dict[str, Any] | None = None, refs: Refs | None = None
) -> Shown:
    """A value found at a body path (a diff's change) as people read it."""
    f = field_at(kind, path)
    name = re.sub(r"\[\d+\]$", "", path).rsplit(".", 1)[-1]
    shown = value(f, name, raw, body=body, refs=refs)
    return Shown(path, path_label(path), shown.text, shown.items, shown.grid, shown.href)


def entry_name(kind: str, entry_id: int, versions: Sequence[Any]) -> str:
    """An entry's name, from its latest version that has a body (a retirement has none):
    ``versions`` oldest first, each with ``tombstone`` and ``body`` (the stored JSON)."""
    for version in reversed(versions):
        if not version.tombstone:
            return entry_label(kind, json.loads(version.body), entry_id)
    return entry_label(kind, {}, entry_id)


def entry_label(kind: str, body: dict[str, Any], entry_id: int) -> str:
    """An entry's name: its kind's label field as people read it, else kind and id."""
    spec = KINDS.get(kind)
    if spec is None:
        return f"{words(kind)} {entry_id}"
    raw = body.get(spec.label_field)
    if raw in (None, ""):
        return f"{spec.title} {entry_id}"
    return value(_fields(kind).get(spec.label_field), spec.label_field, raw, body=body).text
