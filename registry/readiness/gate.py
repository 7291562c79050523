"""The promotion gate: a system becomes production only when it is ready.

:func:`check_promotion` runs inside every profile update that changes the stage to
``production``, whatever the surface: each passes it to ``records.writes`` as the
``gate`` of ``update_entry``, ``patch_entry`` and ``reinstate_system`` (records sits
below readiness), which calls it under the ledger lock. It scores the system with the
proposed profile, on everything recorded so far as in effect when the promotion takes
effect, and refuses unless every area is met or waived.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from registry.errors import Conflict
from registry.ledger.canonical import canonical_bytes, sha256_hex
from registry.readiness.model import Record, Scorecard
from registry.readiness.scorecard import approval_status, documents_held, records_of, score
from registry.records.models import AISystem
from registry.records.reads import profile_entry


class PromotionRefused(Conflict):
    """The system is not ready for production: ``unmet`` names each area and why."""

    code = "not_ready"

    def __init__(self, scorecard: Scorecard) -> None:
        self.scorecard = scorecard
        self.unmet = scorecard.reasons()
        areas = ", ".join(a.title for a in scorecard.unmet())
        super().__init__(
            f"{scorecard.system} cannot become production: not ready in {areas}. "
            "Add the missing evidence, or ask a compliance officer for a waiver.",
            unmet=[
                {"area": a.key, "title": a.title, "status": a.status, "reason": a.unmet()}
                for a in scorecard.unmet()
            ],
        )


def promotion_scorecard(
    session: Session, system: AISystem, new_profile: dict[str, Any], when: dt.datetime
) -> Scorecard:
    """The scorecard the system would have once ``new_profile`` is in effect at ``when``
    (everything recorded so far)."""
    records = records_of(session, system, as_of=None, effective_at=when)
    profiles = [r for r in records if r.kind == "profile"]
    if profiles:
        records = [
            dataclasses.replace(r, body=new_profile) if r in profiles else r for r in records
        ]
    else:  # a reinstatement: a retired profile has no version in force
        entry = profile_entry(session, system)
        data = canonical_bytes(new_profile)
        proposed = Record(
            entry.id, "profile", entry.head_number + 1, sha256_hex(data), new_profile, when
        )
        records = [proposed, *records]
    documents = documents_held(session, system, None)  # everything received so far
    return score(
        system.reference, records, when, approval_status(session, records, when), documents
    )


def check_promotion(
    session: Session,
    system: AISystem,
    old_profile: dict[str, Any],
    new_profile: dict[str, Any],
    when: dt.datetime,
) -> None:
    """Raise :class:`PromotionRefused` unless the system may become production."""
    if new_profile.get("mirrors_register"):
        return  # its stage is as another organisation's register publishes it
    scorecard = promotion_scorecard(session, system, new_profile, when)
    if not scorecard.ready:
        raise PromotionRefused(scorecard)
