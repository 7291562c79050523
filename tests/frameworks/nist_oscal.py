"""Validation of OSCAL documents against NIST's published JSON schemas (OSCAL 1.1.2,
vendored unchanged in oscal_schemas/, see its README): JSON Schema Draft 7 as the schemas
declare, with the formats they name checked (date-time, uri, uri-reference, email),
the schemas themselves first checked against Draft 7's meta-schema.

The schemas' patterns use Unicode classes (``\\p{L}``, ``\\p{N}``) that Python's ``re``
does not know; they are matched with the ``regex`` module, which does. Every other keyword
is jsonschema's own."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import regex
from jsonschema import Draft7Validator, FormatChecker, ValidationError
from jsonschema.validators import extend

SCHEMAS = Path(__file__).parent / "oscal_schemas"
FILES = {
    "catalog": "oscal_catalog_schema.json",
    "assessment-results": "oscal_assessment-results_schema.json",
}


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not regex.search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


OscalValidator = extend(Draft7Validator, {"pattern": _pattern})

# Draft 7's format checks, with "regex" (a schema's own patterns) read by ``regex`` too.
FORMATS = FormatChecker()
FORMATS.checkers = {**Draft7Validator.FORMAT_CHECKER.checkers}
FORMATS.checks("regex", raises=regex.error)(regex.compile)


@functools.cache
def validator(model: str) -> Any:
    schema = json.loads((SCHEMAS / FILES[model]).read_text(encoding="utf-8"))
    meta = Draft7Validator(Draft7Validator.META_SCHEMA, format_checker=FORMATS)
    meta.validate(schema)
    return OscalValidator(schema, format_checker=FORMATS)


def errors(document: dict[str, Any]) -> list[str]:
    """Every way ``document`` (a whole OSCAL document: ``{"catalog": …}`` or
    ``{"assessment-results": …}``) departs from NIST's schema of its model."""
    (model,) = document.keys()
    found = validator(model).iter_errors(document)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def validate(document: dict[str, Any]) -> None:
    """Raises AssertionError listing the schema's complaints, if any."""
    problems = errors(document)
    assert not problems, "\n".join(problems[:20])
