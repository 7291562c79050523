"""Versioning, tombstones, history, as-of and effective-at reads, diffs."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from registry.errors import Conflict, NotFound, StaleVersion
from registry.ledger.models import AuditEvent
from registry.ledger.store import verify_ledger
from registry.records import reads, writes
from registry.records.diff import diff_bodies, diff_versions
from registry.records.models import Entry, EntryVersion
from tests.conftest import append_only_lifted

OWNER = {"role": "technical", "person": {"name": "Tessa", "email": "tessa@example.org"}}


def _owner(email: str = "tessa@example.org", **extra: object) -> dict:
    return {"role": "technical", "person": {"name": "Tessa", "email": email}, **extra}


def test_create_system_writes_version_one_and_an_event(session, officer, profile):
    system, version = writes.create_system(session, officer, profile, reason="first")
    session.commit()
    assert version.number == 1 and not version.tombstone
    assert json.loads(version.body) == profile
    assert version.author == officer.label and version.author_id == officer.user_id
    assert version.reason == "first"
    assert version.effective_from == version.recorded_at
    assert version.recorded_at.tzinfo is not None
    event = session.get(AuditEvent, version.audit_seq)
    body = json.loads(event.event)
    assert body["action"] == "system.create"
    assert body["body_sha256"] == version.body_hash
    assert body["system"] == "sys-1"


def test_body_is_canonical_json_and_hash_matches(session, officer, profile):
    import hashlib

    _, version = writes.create_system(
        session, officer, {**profile, "purpose": "Prüft – „Aanvragen“"}
    )
    session.commit()
    assert hashlib.sha256(version.body.encode()).hexdigest() == version.body_hash
    # RFC 8785: sorted keys, no spaces, non-ASCII as UTF-8.
    assert version.body.startswith('{"name":') and " :" not in version.body
    assert "Prüft" in version.body


def test_update_and_retire_make_new_versions_and_keep_history(session, officer, profile):
    system, _ = writes.create_system(session, officer, profile)
    v1 = writes.create_entry(session, officer, system, "owner", OWNER)
    entry = reads.get_entry(session, v1.entry_id)
    v2 = writes.update_entry(
        session, officer, entry, _owner("t2@example.org"), base_version=1, reason="new owner"
    )
    v3 = writes.retire_entry(session, officer, entry, base_version=2, reason="left")
    session.commit()
    assert [v.number for v in reads.history(session, entry)] == [1, 2, 3]
    assert v3.tombstone and json.loads(v3.body) == {}
    assert entry.head_number == 3 and entry.retired
    state = reads.system_state(session, system)
    assert state.of_kind("owner") == []
    # Nothing was deleted: all three versions are still stored.
    assert session.scalar(sa.select(sa.func.count()).where(EntryVersion.entry_id == entry.id)) == 3
    with pytest.raises(Conflict):
        writes.update_entry(session, officer, entry, OWNER, base_version=3)
    session.rollback()
    assert v2.reason == "new owner"


def test_stale_write_is_refused_and_names_current_version(session, officer, profile):
    system, _ = writes.create_system(session, officer, profile)
    v1 = writes.create_entry(session, officer, system, "owner", OWNER)
    entry = reads.get_entry(session, v1.entry_id)
    writes.update_entry(session, officer, entry, _owner("a@example.org"), base_version=1)
    session.commit()
    before = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    with pytest.raises(StaleVersion) as info:
        writes.update_entry(session, officer, entry, _owner("b@example.org"), base_version=1)
    session.rollback()
    assert info.value.current == 2 and info.value.status == 412
    assert "current version is 2" in info.value.message
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == before
    assert (
        json.loads(reads.get_version(session, entry, 2).body)["person"]["email"] == "a@example.org"
    )


def test_one_profile_per_system(session, officer, profile):
    system, _ = writes.create_system(session, officer, profile)
    session.commit()
    with pytest.raises(Conflict):
        writes.create_entry(session, officer, system, "profile", profile)
    session.rollback()
    with pytest.raises(Conflict):
        writes.create_system(session, officer, profile)
    session.rollback()


def test_profile_reference_cannot_change(session, officer, profile):
    from registry.errors import InvalidInput

    system, _ = writes.create_system(session, officer, profile)
    entry = reads.profile_entry(session, system)
    with pytest.raises(InvalidInput) as info:
        writes.update_entry(
            session, officer, entry, {**profile, "reference": "other"}, base_version=1
        )
    assert "reference" in info.value.field_errors


def test_get_version_that_does_not_exist(session, officer, profile):
    system, _ = writes.create_system(session, officer, profile)
    entry = reads.profile_entry(session, system)
    with pytest.raises(NotFound) as info:
        reads.get_version(session, entry, 7)
    assert "versions are 1 to 1" in info.value.message
    with pytest.raises(NotFound):
        reads.get_entry(session, 99999)
    with pytest.raises(NotFound):
        reads.get_system(session, "nope")


def _timeline(session, officer, profile):
    """A system whose owner entry has three versions and is then retired; returns the
    entry and the versions' recorded_at instants."""
    system, _ = writes.create_system(session, officer, profile)
    session.commit()
    v1 = writes.create_entry(session, officer, system, "owner", _owner("v1@example.org"))
    session.commit()
    entry = reads.get_entry(session, v1.entry_id)
    v2 = writes.update_entry(session, officer, entry, _owner("v2@example.org"), base_version=1)
    session.commit()
    v3 = writes.update_entry(session, officer, entry, _owner("v3@example.org"), base_version=2)
    session.commit()
    v4 = writes.retire_entry(session, officer, entry, base_version=3)
    session.commit()
    return system, entry, [v1, v2, v3, v4]


def _owner_email(session, system, **when):
    owners = reads.system_state(session, system, **when).of_kind("owner")
    return owners[0].body["person"]["email"] if owners else None


def test_as_of_between_and_exactly_on_version_boundaries(session, officer, profile):
    system, entry, versions = _timeline(session, officer, profile)
    times = [v.recorded_at for v in versions]
    assert times == sorted(times) and len(set(times)) == 4
    tick = dt.timedelta(microseconds=1)
    assert _owner_email(session, system, as_of=times[0] - tick) is None
    assert _owner_email(session, system, as_of=times[0]) == "v1@example.org"
    assert _owner_email(session, system, as_of=times[1] - tick) == "v1@example.org"
    assert _owner_email(session, system, as_of=times[1]) == "v2@example.org"
    assert _owner_email(session, system, as_of=times[2] - tick) == "v2@example.org"
    assert _owner_email(session, system, as_of=times[2]) == "v3@example.org"
    assert _owner_email(session, system, as_of=times[3] - tick) == "v3@example.org"
    assert _owner_email(session, system, as_of=times[3]) is None
    assert _owner_email(session, system) is None
    # Before the system existed, nothing at all.
    profile_time = reads.history(session, reads.profile_entry(session, system))[0].recorded_at
    assert reads.system_state(session, system, as_of=profile_time - tick).entries == []


def test_as_of_returns_the_same_as_the_head_now(session, officer, profile):
    system, _ = writes.create_system(session, officer, profile)
    writes.create_entry(session, officer, system, "owner", OWNER)
    writes.create_entry(
        session,
        officer,
        system,
        "risk",
        {"title": "Bias", "likelihood": "possible", "impact": "major"},
    )
    session.commit()
    now = dt.datetime.now(dt.UTC)
    head = reads.system_state(session, system)
    at = reads.system_state(session, system, as_of=now)
    assert [(e.entry_id, e.version.number) for e in head.entries] == [
        (e.entry_id, e.version.number) for e in at.entries
    ]


def test_effective_at_uses_valid_time_and_later_versions_break_ties(session, officer, profile):
    jan = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    mar = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    system, _ = writes.create_system(session, officer, profile, effective_from=jan)
    v1 = writes.create_entry(
        session, officer, system, "owner", _owner("jan@example.org"), effective_from=jan
    )
    entry = reads.get_entry(session, v1.entry_id)
    writes.update_entry(
        session, officer, entry, _owner("mar@example.org"), base_version=1, effective_from=mar
    )
    # A correction recorded later, effective from the same instant: it wins the tie.
    writes.update_entry(
        session, officer, entry, _owner("mar2@example.org"), base_version=2, effective_from=mar
    )
    # A backdated fact: effective from February, recorded last.
    feb = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    writes.update_entry(
        session, officer, entry, _owner("feb@example.org"), base_version=3, effective_from=feb
    )
    session.commit()
    assert _owner_email(session, system, effective_at=jan - dt.timedelta(microseconds=1)) is None
    assert _owner_email(session, system, effective_at=jan) == "jan@example.org"
    assert _owner_email(session, system, effective_at=feb) == "feb@example.org"
    assert _owner_email(session, system, effective_at=mar) == "mar2@example.org"
    # What the registry knew when only version 2 was recorded, about March:
    v2_time = reads.get_version(session, entry, 2).recorded_at
    assert _owner_email(session, system, as_of=v2_time, effective_at=mar) == "mar@example.org"
    assert _owner_email(session, system, as_of=v2_time, effective_at=feb) == "jan@example.org"


def test_diff_of_two_versions(session, officer, profile):
    system, _ = writes.create_system(session, officer, profile)
    v1 = writes.create_entry(
        session,
        officer,
        system,
        "monitoring_plan",
        {
            "metrics": [
                {"name": "accuracy", "category": "accuracy", "threshold": 0.9, "direction": "min"}
            ],
            "frequency": "daily",
            "alert_routing": "ml-oncall",
        },
    )
    entry = reads.get_entry(session, v1.entry_id)
    writes.update_entry(
        session,
        officer,
        entry,
        {
            "metrics": [
                {"name": "accuracy", "category": "accuracy", "threshold": 0.92, "direction": "min"},
                {"name": "psi", "category": "drift", "threshold": 0.2, "direction": "max"},
            ],
            "frequency": "daily",
            "log_retention_days": 200,
        },
        base_version=1,
    )
    session.commit()
    changes = {(c.path, c.change): (c.before, c.after) for c in diff_versions(session, entry, 1, 2)}
    assert changes == {
        ("alert_routing", "removed"): ("ml-oncall", None),
        ("log_retention_days", "added"): (None, 200),
        ("metrics[0].threshold", "changed"): (0.9, 0.92),
        ("metrics[1]", "added"): (
            None,
            {"name": "psi", "category": "drift", "threshold": 0.2, "direction": "max"},
        ),
    }
    assert diff_versions(session, entry, 2, 2) == []
    reverse = {(c.path, c.change) for c in diff_versions(session, entry, 2, 1)}
    assert ("alert_routing", "added") in reverse and ("metrics[1]", "removed") in reverse
    with pytest.raises(NotFound):
        diff_versions(session, entry, 1, 3)


def test_diff_distinguishes_types():
    changes = diff_bodies({"a": 1, "b": True}, {"a": 1.5, "b": 1})
    assert [(c.path, c.change) for c in changes] == [("a", "changed"), ("b", "changed")]


def test_register_lists_live_profiles(session, officer, profile):
    s1, _ = writes.create_system(session, officer, profile)
    s2, _ = writes.create_system(session, officer, {**profile, "reference": "sys-2", "name": "Two"})
    session.commit()
    entry = reads.profile_entry(session, s2)
    writes.retire_entry(session, officer, entry, base_version=1)
    session.commit()
    assert [r.system.reference for r in reads.register(session)] == ["sys-1"]


def test_chain_verifies_after_many_writes_and_fails_when_an_event_is_altered(
    session, officer, profile
):
    start = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))  # the users' events
    system, _ = writes.create_system(session, officer, profile)
    v = writes.create_entry(session, officer, system, "owner", OWNER)
    entry = reads.get_entry(session, v.entry_id)
    for i in range(60):
        writes.update_entry(
            session, officer, entry, _owner(f"o{i}@example.org"), base_version=i + 1
        )
    session.commit()
    report = verify_ledger(session)
    assert report.ok and report.events == start + 62 and report.versions == 62
    seqs = session.scalars(sa.select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert seqs == list(range(1, start + 63))
    # Tamper with one stored event: the chain must break exactly there.
    target = start + 30
    event = session.get(AuditEvent, target)
    tampered = event.event.replace(b'"entry.update"', b'"entry.retire"')
    assert tampered != event.event
    with append_only_lifted(session, "audit_event"):
        session.execute(
            sa.update(AuditEvent).where(AuditEvent.seq == target).values(event=tampered)
        )
    report = verify_ledger(session)
    assert not report.ok and report.problem_seq == target and report.events == target - 1
    assert "event hash" in report.problem


def test_every_version_points_at_its_event(session, officer, profile):
    system, _ = writes.create_system(session, officer, profile)
    writes.create_entry(session, officer, system, "owner", OWNER)
    session.commit()
    rows = session.execute(
        sa.select(EntryVersion.body_hash, AuditEvent.event).join(
            AuditEvent, AuditEvent.seq == EntryVersion.audit_seq
        )
    ).all()
    assert len(rows) == 2
    for body_hash, event in rows:
        assert json.loads(event)["body_sha256"] == body_hash


def test_entries_of_every_kind_can_be_recorded(session, officer, profile):
    from tests.records.samples import SAMPLES, bound_sample

    system, _ = writes.create_system(session, officer, profile)
    for kind in SAMPLES:
        if kind != "profile":
            body = bound_sample(session, system, kind)
            writes.create_entry(session, officer, system, kind, body)
    session.commit()
    state = reads.system_state(session, system)
    assert {e.kind for e in state.entries} == set(SAMPLES)
    assert session.scalar(sa.select(sa.func.count()).select_from(Entry)) == len(SAMPLES)


def test_update_and_retire_by_id(session, officer, actors, profile):
    system, _ = writes.create_system(session, officer, profile)
    v1 = writes.create_entry(session, officer, system, "owner", OWNER)
    session.commit()
    v2 = writes.update_entry(
        session, officer, v1.entry_id, _owner("id@example.org"), base_version=1
    )
    session.commit()
    assert v2.number == 2 and "id@example.org" in v2.body
    with pytest.raises(StaleVersion) as info:
        writes.update_entry(session, officer, v1.entry_id, OWNER, base_version=1)
    session.rollback()
    assert info.value.current == 2
    with pytest.raises(NotFound):
        writes.update_entry(session, officer, 999_999, OWNER, base_version=1)
    session.rollback()
    from registry.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        writes.retire_entry(session, actors["auditor"], v1.entry_id, base_version=2)
    session.rollback()
    v3 = writes.retire_entry(session, officer, v1.entry_id, base_version=2)
    session.commit()
    assert v3.tombstone and reads.get_entry(session, v1.entry_id).retired
    assert verify_ledger(session).ok


def test_a_backdated_retirement_hides_the_entry_from_its_effective_time(session, officer, profile):
    feb = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    mar = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    jun = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    system, _ = writes.create_system(session, officer, profile, effective_from=feb)
    v1 = writes.create_entry(session, officer, system, "owner", OWNER, effective_from=mar)
    writes.retire_entry(session, officer, v1.entry_id, base_version=1, effective_from=feb)
    session.commit()
    assert _owner_email(session, system, effective_at=jun) is None
    assert _owner_email(session, system, effective_at=feb) is None
    # What was known before the retirement was recorded still shows the owner.
    assert (
        _owner_email(session, system, as_of=v1.recorded_at, effective_at=jun) == "tessa@example.org"
    )


def test_out_of_range_numbers_and_invalid_text_are_refused(session, officer, profile):
    from registry.errors import InvalidInput

    system, _ = writes.create_system(session, officer, profile)
    v1 = writes.create_entry(session, officer, system, "owner", OWNER)
    session.commit()
    before = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    with pytest.raises(InvalidInput):
        writes.create_entry(
            session,
            officer,
            system,
            "owner",
            {**OWNER, "person": {"name": "T", "email": "t@example.org", "user_id": 2**40}},
        )
    session.rollback()
    with pytest.raises(InvalidInput):
        writes.create_entry(
            session,
            officer,
            system,
            "risk",
            {"title": "bad \udc80 text", "likelihood": "rare", "impact": "minor"},
        )
    session.rollback()
    with pytest.raises(InvalidInput):
        writes.create_entry(session, officer, system, "owner", OWNER, reason="bad \udc80")
    session.rollback()
    with pytest.raises(InvalidInput):
        writes.update_entry(session, officer, v1.entry_id, OWNER, base_version=2**40)
    session.rollback()
    with pytest.raises(NotFound):
        writes.update_entry(session, officer, 2**40, OWNER, base_version=1)
    session.rollback()
    with pytest.raises(NotFound):
        reads.get_entry(session, 2**40)
    with pytest.raises(NotFound):
        reads.get_version(session, reads.get_entry(session, v1.entry_id), 2**40)
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == before
