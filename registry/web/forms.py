"""HTML forms generated from the kinds' marshmallow schemas.

Three steps, each a plain function: :func:`spec_for` describes a kind's fields as form
fields; :func:`body_from_form` turns the submitted form into a body for the service
(which validates it); :func:`bind` pairs every field with what to show in it — the
values (from a stored body via :func:`values_from_body`, or as the user typed them) and
the field errors of the service, placed next to the inputs they concern.

A form shows some stored values only approximately (a list item with a line break
reads as two lines; text loses its surrounding whitespace when read back): an edit
form therefore reads anew only the fields the user changed, and keeps the stored
value of each field sent back as it was shown.

Input names are the body's paths: ``person.email``, ``attachments.0.name``; an instant
has two inputs, ``<name>-date`` and ``<name>-time`` (UTC unless the time names an
offset).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, fields, validate
from werkzeug.datastructures import MultiDict

from registry.instants import parse_instant
from registry.records.kinds import KINDS, SHORT, IsoDate, Money
from registry.records.kinds import label as field_label

BLANK_ROWS = 2
# The end of a time that names its offset from UTC.
OFFSET = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$", re.IGNORECASE)
MAX_ROWS = 100
HINTS = {
    "lines": "One item per line.",
    "instant": "Date and time in UTC.",
    "money": "An amount, e.g. 120000.00.",
    "checkboxes": "Tick all that apply.",
}


@dataclass(frozen=True)
class FormField:
    """One body field as a form field. ``widget``: text, textarea, email, url, integer,
    float, money, select, boolean, date, instant, lines, checkboxes, group (a nested
    object) or rows (a list of nested objects)."""

    key: str
    label: str
    widget: str
    required: bool = False
    choices: tuple[str, ...] = ()
    max_length: int | None = None
    children: tuple[FormField, ...] = ()
    readonly: bool = False

    @property
    def hint(self) -> str:
        return HINTS.get(self.widget, "")


def _validators(f: fields.Field) -> tuple[tuple[str, ...], int | None]:
    choices: tuple[str, ...] = ()
    max_length = None
    for v in f.validators:
        if isinstance(v, validate.OneOf):
            choices = tuple(str(c) for c in v.choices)
        elif isinstance(v, validate.Length) and v.max is not None:
            max_length = v.max
    return choices, max_length


def _form_field(key: str, f: fields.Field) -> FormField:
    choices, max_length = _validators(f)
    common = {"key": key, "label": field_label(key), "required": bool(f.required)}
    if isinstance(f, fields.Nested):
        nested = f.schema
        children = _fields_of(nested if isinstance(nested, Schema) else nested())
        return FormField(widget="group", children=children, **common)
    if isinstance(f, fields.List):
        inner = f.inner
        if isinstance(inner, fields.Nested):
            nested = inner.schema
            children = _fields_of(nested if isinstance(nested, Schema) else nested())
            return FormField(widget="rows", children=children, **common)
        inner_choices, inner_max = _validators(inner)
        if inner_choices:
            return FormField(widget="checkboxes", choices=inner_choices, **common)
        return FormField(widget="lines", max_length=inner_max, **common)
    if isinstance(f, fields.DateTime):
        widget = "instant"
    elif isinstance(f, IsoDate | fields.Date):
        widget = "date"
    elif isinstance(f, fields.Email):
        widget = "email"
    elif isinstance(f, fields.Url):
        widget = "url"
    elif isinstance(f, Money | fields.Decimal):
        widget = "money"
    elif isinstance(f, fields.Integer):
        widget = "integer"
    elif isinstance(f, fields.Float):
        widget = "float"
    elif isinstance(f, fields.Boolean):
        widget = "boolean"
    elif choices:
        widget = "select"
    elif max_length is not None and max_length > SHORT:
        widget = "textarea"
    else:
        widget = "text"
    return FormField(widget=widget, choices=choices, max_length=max_length, **common)


def _fields_of(schema: Schema) -> tuple[FormField, ...]:
    made = [_form_field(key, f) for key, f in schema.fields.items() if key != "attachments"]
    if "attachments" in schema.fields:  # every kind has them: last, after its own fields
        made.append(_form_field("attachments", schema.fields["attachments"]))
    return tuple(made)


@functools.cache
def spec_for(kind: str, *, reference_readonly: bool = False) -> tuple[FormField, ...]:
    """The form fields of a kind's body, in the schema's order (attachments last)."""
    made = _fields_of(KINDS[kind].schema())
    if reference_readonly:
        made = tuple(
            FormField(**{**f.__dict__, "readonly": True}) if f.key == "reference" else f
            for f in made
        )
    return made


# The fields every form has beside the body: they travel with the version.
META = (
    FormField("reason", "Reason for this change", "textarea", max_length=2_000),
    FormField("effective_from", "Effective from", "instant"),
)


# ----------------------------------------------------------------------------- body


def _number(raw: str, kind: type) -> Any:
    try:
        return kind(raw)
    except ValueError:
        return raw  # the schema says what is wrong with it


def instant_text(date_text: str, time_text: str, blank_time: str = "00:00") -> str | None:
    """The ISO 8601 text of a date and a time, in UTC unless the time names an offset
    (``10:30+02:00``, ``10:30Z``); ``blank_time`` when only the date is given; None when
    both are blank."""
    date_text, time_text = date_text.strip(), time_text.strip()
    if not date_text and not time_text:
        return None
    if not date_text:
        return time_text  # not an instant: the schema refuses it
    time_text = time_text or blank_time
    zone = "" if OFFSET.search(time_text) else "+00:00"
    return f"{date_text}T{time_text}{zone}"


def _row_indices(form: MultiDict, name: str) -> list[int]:
    prefix = f"{name}."
    found = set()
    for key in form:
        if key.startswith(prefix):
            head = key[len(prefix) :].split(".", 1)[0].split("-", 1)[0]
            if head.isdigit() and len(head) < 6:
                found.add(int(head))
    return sorted(found)[:MAX_ROWS]


@dataclass
class Parsed:
    body: dict[str, Any]
    # rows field name -> the form row index of each body item (blank rows are dropped)
    rows: dict[str, list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Stored:
    """What an edit form showed (the values of the body it was based on:
    :func:`values_from_body`) and the stored value at one place of that body."""

    shown: MultiDict
    value: Any

    def at(self, key: str | int) -> _Stored:
        """The stored value of a member (a name) or an item (an index) of this one."""
        v = self.value
        if isinstance(key, int):
            return _Stored(self.shown, v[key] if isinstance(v, list) and key < len(v) else None)
        return _Stored(self.shown, v.get(key) if isinstance(v, dict) else None)


def _as_sent(widget: str, text: str) -> str:
    """``text`` as a browser sends it back from the input that shows it, line breaks as
    LF: a textarea's line breaks all alike and without the one that opens it (HTML
    drops a line break right after ``<textarea>``); a one-line input's without line
    breaks (an e-mail address's or a URL's also without surrounding whitespace)."""
    if widget in ("textarea", "lines"):
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text.removeprefix("\n")
    text = text.replace("\r", "").replace("\n", "")
    return text.strip() if widget in ("email", "url") else text


def _as_shown(f: FormField, name: str, form: MultiDict, shown: MultiDict) -> bool:
    """Whether the form sends back for field ``f`` what it showed (as a browser sends
    it: :func:`_as_sent`), in every input of the field."""
    w = f.widget
    if w == "group":
        return all(_as_shown(c, f"{name}.{c.key}", form, shown) for c in f.children)
    if w == "rows":
        indices = sorted({*_row_indices(form, name), *_row_indices(shown, name)})
        return all(
            _as_shown(c, f"{name}.{i}.{c.key}", form, shown) for i in indices for c in f.children
        )
    if w == "checkboxes":  # sent in the order of the choices
        return {c for c in form.getlist(name) if c} == {c for c in shown.getlist(name) if c}
    names = (f"{name}-date", f"{name}-time") if w == "instant" else (name,)
    return all(_as_sent(w, form.get(n, "")) == _as_sent(w, shown.get(n, "")) for n in names)


def _object(
    spec: tuple[FormField, ...],
    form: MultiDict,
    prefix: str,
    parsed: Parsed,
    stored: _Stored | None,
) -> dict:
    """The object the inputs under ``prefix`` describe, empty when they are all blank
    (then left out, as when typed); ``stored``: see :func:`_collect`."""
    if stored is None or not _collect(spec, form, prefix, Parsed({})):
        return _collect(spec, form, prefix, parsed)
    return _collect(spec, form, prefix, parsed, stored)


def _value(
    f: FormField, name: str, form: MultiDict, parsed: Parsed, stored: _Stored | None = None
) -> Any:
    """The body value of one field; None when the user left it blank. ``stored``: the
    field's stored value, kept in a group or a row for each of their fields the user
    left as shown (:func:`_collect`)."""
    w = f.widget
    if w == "group":
        sub = _object(f.children, form, f"{name}.", parsed, stored)
        return sub if sub or f.required else None
    if w == "rows":
        items, used = [], []
        for i in _row_indices(form, name):
            item = None if stored is None else stored.at(i)
            sub = _object(f.children, form, f"{name}.{i}.", parsed, item)
            if sub:
                items.append(sub)
                used.append(i)
        parsed.rows[name] = used
        return items if items or f.required else None
    if w == "checkboxes":
        chosen = [c for c in form.getlist(name) if c]
        return chosen if chosen or f.required else None
    if w == "lines":
        lines = [line.strip() for line in form.get(name, "").splitlines() if line.strip()]
        return lines if lines or f.required else None
    if w == "instant":
        return instant_text(form.get(f"{name}-date", ""), form.get(f"{name}-time", ""))
    raw = form.get(name, "").replace("\r\n", "\n").strip()
    if raw == "":
        return None
    if w == "integer":
        return _number(raw, int)
    if w == "float":
        return _number(raw, float)
    if w == "boolean":
        return {"true": True, "false": False}.get(raw, raw)
    return raw


def _collect(
    spec: tuple[FormField, ...],
    form: MultiDict,
    prefix: str,
    parsed: Parsed,
    stored: _Stored | None = None,
) -> dict:
    """The fields of ``spec`` under ``prefix``. ``stored``: what the form showed and the
    stored object there; a field sent back as shown keeps its stored value (or its
    absence), the others are read from the form."""
    body = {}
    for f in spec:
        name = f"{prefix}{f.key}"
        if stored is not None and _as_shown(f, name, form, stored.shown):
            if isinstance(stored.value, dict) and f.key in stored.value:
                body[f.key] = stored.value[f.key]
            continue
        value = _value(f, name, form, parsed, None if stored is None else stored.at(f.key))
        if value is not None:
            body[f.key] = value
    return body


def body_from_form(
    spec: tuple[FormField, ...], form: MultiDict, stored: dict[str, Any] | None = None
) -> Parsed:
    """The body the form describes: blank optional fields and blank rows left out.

    ``stored``: the body an edit form showed (by :func:`values_from_body`). A field
    sent back as it was shown keeps its stored value exactly (a list item with a line
    break, surrounding whitespace: what the form cannot show as it is); only the
    fields the user changed are read from the form."""
    parsed = Parsed({})
    kept = None if stored is None else _Stored(values_from_body(spec, stored), stored)
    parsed.body = _collect(spec, form, "", parsed, kept)
    return parsed


def values_from_body(
    spec: tuple[FormField, ...], body: dict[str, Any], prefix: str = ""
) -> MultiDict:
    """The form values that show a stored body."""
    values: MultiDict = MultiDict()
    for f in spec:
        name, value = f"{prefix}{f.key}", body.get(f.key)
        if value is None:
            continue
        if f.widget == "group" and isinstance(value, dict):
            values.update(values_from_body(f.children, value, f"{name}."))
        elif f.widget == "rows" and isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    values.update(values_from_body(f.children, item, f"{name}.{i}."))
        elif f.widget == "checkboxes" and isinstance(value, list):
            for item in value:
                values.add(name, str(item))
        elif f.widget == "lines" and isinstance(value, list):
            values[name] = "\n".join(str(v) for v in value)
        elif f.widget == "instant":
            try:
                instant = dt.datetime.fromisoformat(str(value)).astimezone(dt.UTC)
            except ValueError:
                values[f"{name}-date"] = str(value)
            else:
                values[f"{name}-date"] = instant.date().isoformat()
                values[f"{name}-time"] = instant.time().isoformat(
                    timespec="seconds" if instant.second or instant.microsecond else "minutes"
                )
        elif f.widget == "boolean":
            values[name] = "true" if value else "false"
        else:
            values[name] = str(value)
    return values


def form_instant(date_text: str, time_text: str, blank_time: str = "00:00") -> dt.datetime | None:
    """The instant (UTC) a date input and a time input stand for (see
    :func:`instant_text`), read by the one rule of ``registry.instants``; None when both
    are blank. Raises ValueError with the reason when they make no instant."""
    text = instant_text(date_text, time_text, blank_time)
    if text is None:
        return None
    return parse_instant(text)


# ----------------------------------------------------------------------------- errors


def _messages(value: Any) -> list[str]:
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            for m in _messages(v):
                out.append(f"Item {k + 1}: {m}" if isinstance(k, int) else m)
        return out
    if isinstance(value, list | tuple):
        return [m for v in value for m in _messages(v)]
    return [str(value)]


def place_errors(
    spec: tuple[FormField, ...],
    errors: dict[str, Any],
    rows: dict[str, list[int]] | None = None,
    prefix: str = "",
) -> tuple[dict[str, list[str]], list[str]]:
    """The service's field errors placed on input names; messages that concern no one
    field (``_schema``, unknown keys) come second, for the summary."""
    rows = rows or {}
    placed: dict[str, list[str]] = {}
    general: list[str] = []
    by_key = {f.key: f for f in spec}
    for key, value in errors.items():
        f = by_key.get(key) if isinstance(key, str) else None
        if f is None:
            where = "" if key == "_schema" else f"{key}: "
            general.extend(f"{where}{m}" for m in _messages(value))
            continue
        name = f"{prefix}{key}"
        if f.widget == "group" and isinstance(value, dict):
            sub, rest = place_errors(f.children, value, rows, f"{name}.")
            placed.update(sub)
            if rest:
                placed.setdefault(name, []).extend(rest)
        elif f.widget == "rows" and isinstance(value, dict):
            used = rows.get(name, [])
            for index, item in value.items():
                if isinstance(index, int) and isinstance(item, dict):
                    row = used[index] if index < len(used) else index
                    sub, rest = place_errors(f.children, item, rows, f"{name}.{row}.")
                    placed.update(sub)
                    if rest:
                        placed.setdefault(name, []).extend(f"Row {row + 1}: {m}" for m in rest)
                else:
                    placed.setdefault(name, []).extend(_messages({index: item}))
        else:
            placed.setdefault(name, []).extend(_messages(value))
    return placed, general


# ----------------------------------------------------------------------------- binding


@dataclass
class Bound:
    """A field with what the page shows in it."""

    spec: FormField
    name: str
    id: str
    value: Any = ""  # text; a list for checkboxes; (date, time) for an instant
    errors: list[str] = field(default_factory=list)
    html_required: bool = False
    children: list[Bound] = field(default_factory=list)
    rows: list[list[Bound]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def widget(self) -> str:
        return self.spec.widget

    @property
    def describedby(self) -> str:
        ids = []
        if self.spec.hint:
            ids.append(f"{self.id}-hint")
        if self.errors:
            ids.append(f"{self.id}-error")
        return " ".join(ids)


def input_id(name: str) -> str:
    return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def _row_count(values: MultiDict, name: str) -> int:
    used = [
        i
        for i in _row_indices(values, name)
        if any(
            v.strip()
            for k, vs in values.lists()
            if k.startswith(f"{name}.{i}.") or k.startswith(f"{name}.{i}-")
            for v in vs
        )
    ]
    return min(MAX_ROWS, (max(used) + 1 if used else 0) + BLANK_ROWS)


def bind(
    spec: tuple[FormField, ...],
    values: MultiDict,
    errors: dict[str, list[str]],
    prefix: str = "",
    required_context: bool = True,
    summary: list[tuple[str, str, str]] | None = None,
) -> list[Bound]:
    """Pair each field with its value and errors. ``summary`` collects (input id,
    label, message) of every error, in page order."""
    out = []
    for f in spec:
        name = f"{prefix}{f.key}"
        bound = Bound(
            spec=f,
            name=name,
            id=input_id(name),
            errors=list(errors.get(name, [])),
            html_required=required_context and f.required and not f.readonly,
        )
        if summary is not None:
            target = f"{bound.id}-date" if f.widget == "instant" else bound.id
            if f.widget in ("checkboxes", "group", "rows"):
                target = f"{bound.id}-legend"
            summary.extend((target, _path_label(prefix, f.label), m) for m in bound.errors)
        if f.widget == "group":
            bound.children = bind(
                f.children, values, errors, f"{name}.", bound.html_required, summary
            )
        elif f.widget == "rows":
            bound.rows = [
                bind(f.children, values, errors, f"{name}.{i}.", False, summary)
                for i in range(_row_count(values, name))
            ]
        elif f.widget == "checkboxes":
            bound.value = values.getlist(name)
        elif f.widget == "instant":
            bound.value = (values.get(f"{name}-date", ""), values.get(f"{name}-time", ""))
        else:
            bound.value = values.get(name, "")
        out.append(bound)
    return out


def _path_label(prefix: str, label: str) -> str:
    parts = [p for p in prefix.split(".") if p]
    words = [str(int(p) + 1) if p.isdigit() else field_label(p) for p in parts]
    return " ".join([*words, label.lower() if words else label])
