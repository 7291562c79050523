"""Bad input: a specific error, and the database holds exactly what it held before."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.errors import InvalidInput, NotFound, PermissionDenied, StaleVersion
from registry.ledger.models import AuditEvent
from registry.records import reads, writes
from registry.records.kinds import KINDS
from registry.records.models import AISystem, Entry, EntryVersion
from tests.records.samples import SAMPLES


def _counts(session):
    return tuple(
        session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (AISystem, Entry, EntryVersion, AuditEvent)
    )


@pytest.fixture
def system(session, officer, profile):
    system, _ = writes.create_system(session, officer, profile)
    writes.create_entry(session, officer, system, "owner", SAMPLES["owner"])
    session.commit()
    return system


def _invalid(session, call, field):
    before = _counts(session)
    with pytest.raises(InvalidInput) as info:
        call()
    session.rollback()
    assert _counts(session) == before
    errors = info.value.field_errors
    path = field.split(".")
    node = errors
    for part in path:
        part = int(part) if part.isdigit() else part
        assert part in node, f"{field!r} not named in {errors!r}"
        node = node[part]
    return node


def test_samples_cover_every_kind():
    assert set(SAMPLES) == set(KINDS)


@pytest.mark.parametrize(
    ("kind", "change", "field", "message"),
    [
        ("owner", {"colour": "red"}, "colour", "Unknown field."),
        ("owner", {"role": "boss"}, "role", "Must be one of"),
        ("owner", {"person": {"name": "A", "email": "not-an-email"}}, "person.email", "email"),
        ("owner", {"person": "Bea"}, "person._schema", "Invalid input type"),
        ("owner", {"start": "2026-02-30"}, "start", "Not a valid date."),
        ("owner", {"start": "yesterday"}, "start", "Not a valid date."),
        ("owner", {"start": "2026-05-01", "end": "2026-04-01"}, "end", "Must not be before start"),
        ("data_source", {"uses": []}, "uses", "Must not be empty."),
        ("data_source", {"uses": ["training", "gossip"]}, "uses.1", "Must be one of"),
        ("data_source", {"name": "x" * 201}, "name", "Longer than maximum length 200."),
        ("data_source", {"snapshot_hash": "abc"}, "snapshot_hash", "SHA-256"),
        (
            "access_grant",
            {"granted_at": "2025-02-01T09:00:00"},
            "granted_at",
            "Not a valid aware datetime.",
        ),
        (
            "access_grant",
            {"expires_at": "2025-01-01T00:00:00Z"},
            "expires_at",
            "Must not be before",
        ),
        ("review_procedure", {"frequency_days": "90"}, "frequency_days", "Not a valid integer."),
        ("review_procedure", {"frequency_days": 0}, "frequency_days", "greater than or equal to 1"),
        ("review", {"reviewers": []}, "reviewers", "Must not be empty."),
        (
            "incident",
            {"detected_at": "2025-13-01T00:00:00Z"},
            "detected_at",
            "Not a valid datetime.",
        ),
        ("incident", {"serious": False}, "serious_category", "Only a serious incident"),
        (
            "monitoring_plan",
            {"metrics": [{"name": "x", "category": "accuracy", "threshold": "high"}]},
            "metrics.0.threshold",
            "Not a valid number.",
        ),
        ("funding", {"currency": "euro"}, "currency", "ISO 4217"),
        ("funding", {"budget": -5}, "budget", "greater than or equal to 0"),
        ("risk", {"impact": None}, "impact", "Field may not be null."),
        ("change_log", {"summary": ""}, "summary", "Must not be empty."),
        ("profile", {"stage": "beta"}, "stage", "Must be one of"),
        ("profile", {"risk_tier": "limited"}, "art_6_3_rationale", "Art 6(3)"),
    ],
)
def test_invalid_bodies_are_refused_with_field_errors(
    session, officer, system, kind, change, field, message
):
    body = {**SAMPLES[kind], **change}
    if kind == "profile":
        entry = reads.profile_entry(session, system)
        call = lambda: writes.update_entry(session, officer, entry, body, base_version=1)  # noqa: E731
    else:
        call = lambda: writes.create_entry(session, officer, system, kind, body)  # noqa: E731
    messages = _invalid(session, call, field)
    assert any(message in m for m in messages), messages


def test_missing_required_field(session, officer, system):
    body = dict(SAMPLES["risk"])
    del body["likelihood"]
    assert _invalid(
        session, lambda: writes.create_entry(session, officer, system, "risk", body), "likelihood"
    ) == ["Missing data for required field."]


def test_unknown_kind(session, officer, system):
    messages = _invalid(
        session, lambda: writes.create_entry(session, officer, system, "horoscope", {}), "kind"
    )
    assert "Unknown kind 'horoscope'" in messages[0]


def test_body_not_an_object(session, officer, system):
    _invalid(
        session, lambda: writes.create_entry(session, officer, system, "risk", ["a"]), "_schema"
    )


def test_reason_too_long(session, officer, system):
    _invalid(
        session,
        lambda: writes.create_entry(
            session, officer, system, "risk", SAMPLES["risk"], reason="x" * 2001
        ),
        "reason",
    )


def test_naive_effective_from(session, officer, system):
    _invalid(
        session,
        lambda: writes.create_entry(
            session,
            officer,
            system,
            "risk",
            SAMPLES["risk"],
            effective_from=dt.datetime(2026, 1, 1),
        ),
        "effective_from",
    )


def test_nonexistent_version_and_stale_base(session, officer, system):
    entry = session.scalar(sa.select(Entry).where(Entry.kind == "owner"))
    before = _counts(session)
    with pytest.raises(NotFound):
        reads.get_version(session, entry, 2)
    with pytest.raises(StaleVersion):
        writes.update_entry(session, officer, entry, SAMPLES["owner"], base_version=5)
    session.rollback()
    with pytest.raises(StaleVersion):
        writes.retire_entry(session, officer, entry, base_version=0)
    session.rollback()
    assert _counts(session) == before


def test_actor_without_permission(session, actors, system):
    before = _counts(session)
    for role in ("auditor", "admin", "technical_owner"):
        with pytest.raises(PermissionDenied):
            writes.create_entry(session, actors[role], system, "risk", SAMPLES["risk"])
        session.rollback()
    with pytest.raises(PermissionDenied):
        writes.create_system(
            session, Actor.system("x", roles=frozenset()), {**SAMPLES["profile"], "reference": "z"}
        )
    session.rollback()
    assert _counts(session) == before


def test_validation_before_the_lock_keeps_the_order_of_refusals(session, actors, officer, system):
    """Once an entry's kind is known, a body is validated before the ledger lock is taken;
    a refusal still comes in the same order: permission first, then the body."""
    entry = reads.get_entry(session, 2)  # the owner entry
    writes.update_entry(
        session, officer, entry.id, {**SAMPLES["owner"], "authority_scope": "x"}, base_version=1
    )
    session.commit()  # the kind of entry 2 is now known to this process
    before = _counts(session)
    with pytest.raises(PermissionDenied):
        writes.update_entry(session, actors["auditor"], entry.id, {"role": "boss"}, base_version=2)
    session.rollback()
    with pytest.raises(InvalidInput) as refused:
        writes.update_entry(session, officer, entry.id, {"role": "boss"}, base_version=2)
    session.rollback()
    assert set(refused.value.field_errors) == {"role", "person"}
    with pytest.raises(StaleVersion):  # a valid body, a stale base: checked under the lock
        writes.update_entry(session, officer, entry.id, SAMPLES["owner"], base_version=1)
    session.rollback()
    assert _counts(session) == before


def _text_paths(value, path=()):
    """The path of every text in a body: fields, enumerations, list items, nested objects."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _text_paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _text_paths(item, (*path, index))


def _with_text(body, path, spoil):
    if not path:
        return spoil(body)
    copy = list(body) if isinstance(body, list) else dict(body)
    copy[path[0]] = _with_text(body[path[0]], path[1:], spoil)
    return copy


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize(
    ("bad", "message"),
    [("\x00", "Contains a NUL character."), ("\ud800", "Not valid Unicode text")],
)
def test_text_no_database_can_store_is_refused_in_every_field(
    session, officer, system, kind, bad, message
):
    """A NUL (PostgreSQL keeps none in text) or a lone surrogate (no UTF-8 form) in any
    text of any kind is refused, named at its field, and nothing is stored."""
    paths = list(_text_paths(SAMPLES[kind]))
    assert paths
    for path in paths:
        body = _with_text(SAMPLES[kind], path, lambda text: text[:1] + bad + text[1:])
        if kind == "profile":
            entry = reads.profile_entry(session, system)
            call = lambda: writes.update_entry(session, officer, entry, body, base_version=1)  # noqa: E731, B023
        else:
            call = lambda: writes.create_entry(session, officer, system, kind, body)  # noqa: E731, B023
        messages = _invalid(session, call, ".".join(map(str, path)))
        assert any(message in m for m in messages), (path, messages)
