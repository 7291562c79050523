"""Evidence that makes a system ready on every area, one entry per kind, for tests."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from registry.documents.service import Upload, receive
from registry.documents.store import BlobStore
from registry.extensions import document_store
from registry.records import writes

PERSON = {"name": "Pat Person", "email": "pat@example.org"}
DELEGATE = {"name": "Dee Delegate", "email": "dee@example.org"}
START = "2025-01-01"


def ready_entries(procedure_id: int | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(kind, body) of everything a ready system has, but its performed review (which
    names the procedure) and the profile's purpose and business value."""
    return [
        ("owner", {"role": "business", "person": PERSON, "start": START}),
        ("owner", {"role": "technical", "person": PERSON, "start": START, "delegate": DELEGATE}),
        (
            "data_source",
            {
                "name": "Applications",
                "uses": ["input"],
                "steward": PERSON,
                "retention": "7 years",
                "quality_notes": "Checked monthly",
            },
        ),
        (
            "integration",
            {
                "name": "Case system",
                "connects_to": "CaseFlow",
                "status": "live",
                "fallback": "By hand",
            },
        ),
        (
            "adoption_plan",
            {
                "user_groups": ["Caseworkers"],
                "training": "90 minutes",
                "support_pathway": "Service desk",
                "success_metric": "Days to decision",
                "success_threshold": "<= 10",
            },
        ),
        (
            "risk",
            {
                "title": "Wrong band",
                "likelihood": "possible",
                "impact": "major",
                "control": "Weekly sample",
                "residual_risk": "medium",
            },
        ),
        (
            "review_procedure",
            {"type": "human_oversight", "frequency_days": 30, "stop_mechanism": "Flag off"},
        ),
        (
            "access_grant",
            {
                "principal": "Team leads",
                "principal_type": "group",
                "resource": "system",
                "permission": "stop",
                "can_stop": True,
            },
        ),
        (
            "change_log",
            {
                "change_type": "model",
                "summary": "v1",
                "test_evidence": "Holdout recall 0.86",
                "approver": "Board",
                "rollback_plan": "Flag off",
            },
        ),
        (
            "monitoring_plan",
            {
                "metrics": [
                    {"name": "recall", "category": "accuracy", "threshold": 0.8},
                    {"name": "psi", "category": "drift", "threshold": 0.2},
                ],
                "alert_routing": "ml-oncall",
                "log_sources": ["decision log"],
                "log_retention_days": 365,
                "review_frequency_days": 90,
            },
        ),
        (
            "incident_procedure",
            {
                "escalation_path": ["Tech owner", "Business owner"],
                "fallback": "Manual queue",
                "intake_channel": "Service desk",
                "kill_switch": "Feature flag",
            },
        ),
        (
            "funding",
            {"funder": "Dept", "budget": "1000", "covers": ["run", "improve"], "start": START},
        ),
    ]


# The stored documents a ready high-risk system has (criteria resting on a document).
READY_DOCUMENTS = {
    "test_report": b"Holdout evaluation: recall 0.86",
    "model_card": b"# Model card\nIntended use: ordering the queue.",
}


def store_documents(
    session: Any, actor: Any, system: Any, store: BlobStore | None = None, **valid: Any
) -> None:
    """Receive :data:`READY_DOCUMENTS` for ``system`` (``valid_until`` for all, if given):
    the app's blob store unless another is given (outside an app context)."""
    store = store or document_store()
    for document_type, data in READY_DOCUMENTS.items():
        staged = store.stage(len(data)).copy_from(io.BytesIO(data))
        upload = Upload(f"{document_type}.md", document_type=document_type, **valid)
        receive(session, actor, system, store, staged, upload)


def make_ready(
    session: Any,
    actor: Any,
    system: Any,
    *,
    skip: tuple[str, ...] = (),
    store: BlobStore | None = None,
) -> dict[str, int]:
    """Record the evidence (kinds in ``skip`` left out; "documents" leaves out the
    stored documents); returns entry ids by kind (the last of each kind)."""
    if "documents" not in skip:
        store_documents(session, actor, system, store)
    ids: dict[str, int] = {}
    for kind, body in ready_entries():
        if kind in skip:
            continue
        ids[kind] = writes.create_entry(session, actor, system, kind, body).entry_id
    if "review" not in skip and "review_procedure" in ids:
        performed = dt.datetime.now(dt.UTC).date().isoformat()
        ids["review"] = writes.create_entry(
            session,
            actor,
            system,
            "review",
            {
                "procedure_entry_id": ids["review_procedure"],
                "performed_on": performed,
                "reviewers": ["Pat"],
                "decision": "approve",
            },
        ).entry_id
    return ids


READY_PROFILE = {
    "name": "Triage",
    "reference": "sys-1",
    "stage": "pilot",
    "risk_tier": "high",
    "purpose": "Orders the queue",
    "business_value": "Faster decisions for urgent cases",
}
