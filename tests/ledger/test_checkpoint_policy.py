"""When an append signs a checkpoint by time: ``every_seconds`` after the latest one in
the database, whichever process signed it, so a process that has just started (a new
worker) does not sign at its first write when another signed a moment ago."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.ledger.append import append_event
from registry.ledger.checkpoints import LedgerSettings, make_checkpoint
from registry.ledger.keys import Signer
from registry.ledger.models import Checkpoint
from tests.conftest import append_only_lifted

SIGNER = Signer("policy.example/log", Ed25519PrivateKey.generate())


def _sizes(session) -> list[int]:
    return session.scalars(sa.select(Checkpoint.tree_size).order_by(Checkpoint.tree_size)).all()


def _fresh_process(session) -> LedgerSettings:
    """The signing settings of a process that has signed nothing yet."""
    settings = LedgerSettings(SIGNER, every_events=1000, every_seconds=300)
    session.info["ledger"] = settings
    return settings


@pytest.fixture
def signed_a_moment_ago(session):
    """Three events and a checkpoint of them (signed at the map of the systems' last
    events it appends, event 4), signed by another process just now."""
    for n in range(3):
        append_event(session, {"action": "test", "n": n})
    make_checkpoint(session, SIGNER)
    session.commit()
    return session


def test_a_fresh_process_does_not_sign_when_the_latest_checkpoint_is_recent(
    signed_a_moment_ago,
):
    session = signed_a_moment_ago
    _fresh_process(session)
    for n in range(3):
        append_event(session, {"action": "test", "n": n})
        session.commit()
    assert _sizes(session) == [4]


def test_a_fresh_process_signs_when_the_latest_checkpoint_is_old(signed_a_moment_ago):
    session = signed_a_moment_ago
    an_hour_ago = session.scalar(sa.select(Checkpoint.created_at)) - dt.timedelta(hours=1)
    with append_only_lifted(session, "checkpoint"):
        session.execute(sa.update(Checkpoint).values(created_at=an_hour_ago))
    _fresh_process(session)
    for n in range(2):
        append_event(session, {"action": "test", "n": n})
        session.commit()
    # At the first append (5, then its map 6) only: it is now the latest.
    assert _sizes(session) == [4, 6]


def test_a_fresh_process_signs_at_once_when_there_is_no_checkpoint(session):
    _fresh_process(session)
    for n in range(2):
        append_event(session, {"action": "test", "n": n})
        session.commit()
    assert _sizes(session) == [2]  # the first event and the map signed with it


def test_a_recent_checkpoint_of_another_process_postpones_this_ones(signed_a_moment_ago):
    """Once due by its own clock, a process asks the database, and counts from the
    latest checkpoint it finds there."""
    session = signed_a_moment_ago
    settings = _fresh_process(session)
    settings.last_made = -1e9  # this process's own last one: long ago
    append_event(session, {"action": "test", "n": 1})
    session.commit()
    assert _sizes(session) == [4]
    assert settings.last_made > 0  # the database's latest is now the one it counts from
