from registry.records import reads

"""One valid body of every kind, for tests."""

HASH = "ab" * 32

SAMPLES: dict[str, dict] = {
    "profile": {
        "name": "Benefit fraud triage",
        "reference": "sys-1",
        "stage": "pilot",
        "risk_tier": "high",
        "annex_iii_area": "5(a) public benefits",
    },
    "owner": {
        "role": "business",
        "person": {"name": "Bea Business", "email": "bea@example.org"},
        "start": "2025-01-01",
    },
    "data_source": {
        "name": "Applications 2019-2024",
        "uses": ["training", "validation"],
        "personal_data_categories": ["income"],
        "snapshot_hash": HASH,
    },
    "access_grant": {
        "principal": "ml-ops",
        "principal_type": "group",
        "resource": "logs",
        "permission": "read",
        "granted_at": "2025-02-01T09:00:00+01:00",
        "expires_at": "2026-02-01T09:00:00+01:00",
        "can_stop": True,
    },
    "review_procedure": {
        "type": "periodic",
        "frequency_days": 90,
        "reviewer_role": "oversight board",
    },
    "review": {
        "procedure_entry_id": 1,
        "performed_on": "2025-06-01",
        "reviewers": ["Olivia"],
        "decision": "conditional",
        "next_due": "2025-09-01",
    },
    "incident_procedure": {
        "intake_channel": "servicedesk",
        "escalation_path": ["on-call", "CISO"],
        "fallback": "manual processing",
        "kill_switch": "feature flag",
    },
    "incident": {
        "title": "Wrong priority scores",
        "detected_at": "2025-07-01T10:00:00Z",
        "became_aware_at": "2025-07-01T12:00:00Z",
        "severity": "high",
        "serious": True,
        "serious_category": "other",
        "status": "contained",
    },
    "change_log": {
        "change_type": "model",
        "summary": "Retrained on 2024 data",
        "from_version": "1.2",
        "to_version": "1.3",
        "substantial_modification": False,
    },
    "monitoring_plan": {
        "metrics": [
            {"name": "recall", "category": "accuracy", "threshold": 0.8, "direction": "min"}
        ],
        "log_retention_days": 190,
        "alert_routing": "ml-oncall",
    },
    "integration": {
        "name": "Case system",
        "connects_to": "Suite CMS",
        "method": "REST",
        "fallback": "queue",
    },
    "adoption_plan": {"user_groups": ["case workers"], "success_metric": "share of cases triaged"},
    "funding": {
        "funder": "Social affairs",
        "budget": "120000",
        "currency": "EUR",
        "covers": ["run"],
        "start": "2025-01-01",
        "end": "2027-12-31",
    },
    "risk": {
        "title": "Indirect discrimination",
        "likelihood": "possible",
        "impact": "major",
        "residual_risk": "medium",
        "accepted_by": "Bea",
        "accepted_on": "2025-03-01",
    },
    "waiver": {
        "area": "lifecycle_funding",
        "justification": "Improvement budget decided in the next budget round",
        "approver": {"name": "Olivia Officer", "email": "olivia@example.org"},
        "approved_on": "2025-03-01",
        "expires_at": "2025-12-31T23:59:00+01:00",
    },
    "approval": {
        "to_stage": "production",
        "approver": {"name": "Olivia Officer", "email": "olivia@example.org"},
        "approved_at": "2025-03-01T10:00:00+01:00",
        "evidence": [{"entry_id": 1, "version": 1, "hash": HASH}],
    },
    "applicability": {
        "framework": "iso-42001",
        "item": "A.10.4",
        "applicable": False,
        "justification": "Used only inside the organisation: it has no customers",
        "decided_by": {"name": "Olivia Officer", "email": "olivia@example.org"},
        "decided_on": "2025-03-01",
    },
    "attachments_example": {},
}
SAMPLES.pop("attachments_example")
# An external reference (a URI): the registry holds no document with this hash.
SAMPLES["data_source"]["attachments"] = [
    {
        "name": "datasheet.pdf",
        "sha256": HASH,
        "size": 1024,
        "uri": "https://files.example.org/datasheet.pdf",
    }
]


def bound_sample(session, system, kind: str) -> dict:
    """SAMPLES[kind] with its references bound to ``system``'s records: a review names
    the system's review procedure (which must exist), an approval cites the system's
    current profile version."""

    body = dict(SAMPLES[kind])
    state = reads.system_state(session, system)
    if kind == "review":
        body["procedure_entry_id"] = state.of_kind("review_procedure")[0].entry_id
    if kind == "approval":
        (profile,) = state.of_kind("profile")
        body["evidence"] = [
            {
                "entry_id": profile.entry_id,
                "kind": "profile",
                "version": profile.version.number,
                "hash": profile.version.body_hash,
            }
        ]
    return body
