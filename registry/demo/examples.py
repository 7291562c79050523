"""Three hand-written example AI systems for the demo, documented in every entry kind.

1. ``demo-city-chatbot``: a residents' question chatbot in pilot, deliberately incomplete
   (no monitoring plan, integration, adoption plan, funding, performed review or incident),
   so that the readiness scorecard has gaps to show.
2. ``demo-benefits-triage``: a high-risk triage model in production with every kind recorded,
   later versions of several entries and a serious incident reported within the Art 73
   deadline. It passed the promotion gate at go-live with one waiver (improvement funding,
   until the next year's budget) and is ready on every area from the day the demo is
   loaded until its weekly oversight review falls due, six days later.
3. ``demo-invoice-ocr``: a retired invoice-reading system whose decommissioning is in the
   change log and whose service-account grant is itself retired (tombstoned).

Plain data, read by ``registry.demo.loader.load_examples``, which records a system's
entries before the later versions of its profile (so a promotion meets the evidence).
The data is written as it stood on ``registry.demo.dates.ANCHOR`` (24 November 2026);
the loader moves every date and instant by the days from that day to the day of
loading, so the story above holds whenever the demo is loaded. Dates in free text are
marked ``{{YYYY-MM-DD|style}}`` (for example ``{{2026-03-09|month}}``, "March 2026"
when loaded on the anchor day) and rendered by ``registry.demo.dates.render``;
document numbers and file names that contain a year are names and stay as written.
Bodies are full bodies: an update replaces the whole body. In a review,
``"procedure_entry_id": "@key"`` names the review procedure of the same system by its
``key``; the loader substitutes the entry id.
The City of Havenburg, its suppliers and every person other than the demo logins are
fictional; attachment hashes stand for documents that are not shipped with the demo.
"""

from __future__ import annotations

from typing import Any

# ----------------------------------------------------------------------------- people

TESSA = {"name": "Tessa Technical", "email": "techowner@demo.registry.example"}
OLIVIA = {"name": "Olivia Officer", "email": "officer@demo.registry.example"}

ZOE = {"name": "Zoë Çelik", "email": "zoe.celik@havenburg.example.org"}
JORG = {"name": "Jörg Müller", "email": "jorg.muller@havenburg.example.org"}
SOREN = {"name": "Søren Ødegaard", "email": "soren.odegaard@havenburg.example.org"}
INES = {"name": "Inês Carvalho", "email": "privacy@havenburg.example.org"}
MARIEKE = {"name": "Marieke de Vries", "email": "marieke.devries@havenburg.example.org"}
AHMED = {"name": "Ahmed El Amrani", "email": "ahmed.elamrani@havenburg.example.org"}
SAMUEL = {"name": "Samuel Okafor", "email": "samuel.okafor@havenburg.example.org"}
HANNEKE = {"name": "Hanneke Smit", "email": "hanneke.smit@havenburg.example.org"}
NOOR = {"name": "Noor Haddad", "email": "noor.haddad@havenburg.example.org"}
FEMKE = {"name": "Femke Bakker", "email": "femke.bakker@havenburg.example.org"}
DAAN = {"name": "Daan Visser", "email": "daan.visser@havenburg.example.org"}
LOTTE = {"name": "Lotte Hendriks", "email": "lotte.hendriks@havenburg.example.org"}
RUTH = {"name": "Ruth Achterberg", "email": "ruth.achterberg@havenburg.example.org"}

# ====================================================================== 1. pilot with gaps

_CHATBOT_PROFILE: dict[str, Any] = {
    "name": "Ask Havenburg: residents' question chatbot",
    "reference": "demo-city-chatbot",
    "purpose": (
        "Answers residents' general questions in the chat widget on havenburg.example.org "
        "(waste collection, bulky-waste pick-up, parking permits and zones, opening hours, "
        "how to report a problem in the street) using only the published pages of the "
        "municipal website as its source. Every answer links to the page it is based on. It "
        "hands the conversation over to a Customer Contact Centre agent when it cannot answer "
        "or when the resident asks for a person. It does not take applications, look up "
        "anyone's case or give legal or financial advice."
    ),
    "known_misuse": (
        "Asking whether someone is entitled to a benefit, allowance, permit or exemption; "
        "treating an answer as a municipal decision or as legal advice; residents typing "
        "citizen service numbers, medical details or case numbers into the chat; staff using "
        "the bot to draft official letters or decisions."
    ),
    "stage": "pilot",
    "risk_tier": "limited",
    "role": "deployer",
    "deployment_context": (
        "Pilot from {{2026-09-01|day}} to {{2027-02-28|day}} on the 'Waste & recycling' and "
        "'Parking' sections of the website only (about 9% of web visits), in Dutch and "
        "English. The widget says it is an AI assistant before the first question (Art 50(1)). "
        "Handovers arrive in the agents' existing chat queue; there is no link to the case "
        "management or permit systems."
    ),
    "affected_persons": (
        "Residents and visitors using the pilot sections of the website (about 4,000 chat "
        "sessions a month); the 12 Customer Contact Centre agents who take over conversations."
    ),
    "organisation": "City of Havenburg: Customer Contact Centre",
    "provider": "Lumen Dialog B.V. (chat platform) on Azure OpenAI Service, EU Data Boundary",
    "model": "GPT-4o mini (2024-07-18) with retrieval over the municipal website; Lumen Dialog 5.4",
    "business_value": (
        "38% of visits to the pilot sections happen after 18:00, when the contact centre is "
        "closed. Waste and parking questions are 22% of phone calls; the pilot is to show "
        "whether the bot can take 10-15% of those calls without more complaints."
    ),
    "lawful_basis": (
        "GDPR Art 6(1)(e): the public task of informing residents about municipal services."
    ),
    "dpia_status": "not_done",
    "dpia_reference": "DPIA pre-scan PS-2026-031: full DPIA required before any rollout",
    "external_reference": "https://havenburg.example.org/algorithms/ask-havenburg",
    "register_added_on": "2026-08-20",
}

_CHATBOT_RISK_WRONG_ANSWER: dict[str, Any] = {
    "title": "Outdated or wrong answer about deadlines, fees or collection days",
    "description": (
        "The bot answers from website pages; where a page is outdated or ambiguous a resident "
        "may miss a bulky-waste booking deadline, buy the wrong parking permit or get a fine."
    ),
    "likelihood": "possible",
    "impact": "moderate",
    "control": (
        "Answers restricted to retrieved pages, always with a link; 'Report this answer' button; "
        "web editors fix pages that agents flag; weekly oversight sample (see review procedure)."
    ),
    "residual_risk": "medium",
    "owner": "Femke Bakker",
    "accepted_by": "Femke Bakker (business owner)",
    "accepted_on": "2026-08-27",
}

_CHATBOT_ENTRIES: list[dict[str, Any]] = [
    {
        "key": "business-owner",
        "kind": "owner",
        "body": {
            "role": "business",
            "person": FEMKE,
            "authority_scope": (
                "Head of the Customer Contact Centre. Decides pilot scope and the go/no-go for "
                "rollout; accountable towards residents for the quality of answers."
            ),
            "start": "2026-06-01",
            "escalation_contact": OLIVIA,
        },
        "effective_from": "2026-08-24T09:00:00+02:00",
        "reason": "Business owner named at the start of the pilot",
    },
    {
        "key": "tech-owner",
        "kind": "owner",
        "body": {
            "role": "technical",
            "person": TESSA,
            "authority_scope": (
                "Configures the chat platform, the system prompt and the retrieval index; "
                "may switch the widget off at any time."
            ),
            "start": "2026-06-15",
            "delegate": DAAN,
        },
        "effective_from": "2026-08-24T09:00:00+02:00",
        "reason": "Technical owner named at the start of the pilot",
    },
    {
        "key": "ds-website",
        "kind": "data_source",
        "body": {
            "name": "Published pages of havenburg.example.org (retrieval index)",
            "steward": LOTTE,
            "uses": ["reference"],
            "origin": "Municipal web content management system; public pages only",
            "original_purpose": "Public information for residents and businesses",
            "personal_data_categories": [
                "names and direct phone numbers of officials on contact pages",
            ],
            "preparation": (
                "Crawled nightly (about 1,140 pages); pages under /archive and PDF council "
                "documents excluded; split into passages of about 800 tokens."
            ),
            "quality_notes": (
                "About 6% of pages had not been reviewed by an editor for more than two years "
                "when the pilot started. Editors review every page that a flagged answer cites."
            ),
            "gaps": (
                "Collection days per street exist only in the waste calendar app and are not "
                "in the index; the bot links to the app instead."
            ),
            "provenance": "Index rebuilt nightly; build number and page count in the platform log",
            "licence": "Own content",
            "retention": "Index overwritten nightly; earlier builds are not kept",
        },
        "effective_from": "2026-08-24T09:00:00+02:00",
        "reason": "Knowledge source for the pilot",
    },
    {
        "key": "ds-conversations",
        "kind": "data_source",
        "body": {
            "name": "Pilot chat conversations",
            "steward": FEMKE,
            "uses": ["input", "test"],
            "origin": "Conversations in the website chat widget during the pilot",
            "original_purpose": "Answering the resident's question",
            "personal_data_categories": [
                "free text typed by residents, which may include names, addresses and phone "
                "numbers",
                "IP address (pseudonymised after 24 hours)",
                "session identifier",
            ],
            "special_categories": [
                "health or religious information when residents volunteer it (not asked for)",
            ],
            "lawful_basis": "GDPR Art 6(1)(e)",
            "retention": (
                "30 days, then deleted; 200 anonymised conversations a month are kept as a test "
                "set until the end of the pilot"
            ),
            "recipients": [
                "Lumen Dialog B.V. (processor)",
                "Microsoft Ireland Operations Ltd (sub-processor, Azure OpenAI Service)",
            ],
            "transfers": (
                "None intended (EU Data Boundary). Support access by the sub-processor from "
                "outside the EU is possible under its standard contractual clauses; still to be "
                "assessed in the DPIA."
            ),
        },
        "effective_from": "2026-08-24T09:00:00+02:00",
        "reason": "Conversation data of the pilot",
    },
    {
        "key": "grant-agents",
        "kind": "access_grant",
        "body": {
            "principal": "Customer Contact Centre pilot agents (AD group GG-KCC-ChatPilot, 12)",
            "principal_type": "group",
            "resource": "system",
            "resource_ref": "Lumen Dialog agent console",
            "permission": "read conversations; take over chats; flag answers",
            "purpose": "Handle handovers and flag wrong answers during the pilot",
            "approver": "Femke Bakker",
            "granted_at": "2026-08-28T10:00:00+02:00",
            "next_recertification": "2027-02-28",
            "can_override": True,
            "can_stop": False,
        },
        "effective_from": "2026-08-28T10:00:00+02:00",
        "reason": "Pilot agents given access",
    },
    {
        "key": "grant-vendor",
        "kind": "access_grant",
        "body": {
            "principal": "Lumen Dialog B.V. support engineers",
            "principal_type": "group",
            "resource": "logs",
            "resource_ref": "Conversation logs (30-day window)",
            "permission": "read, only for an open support ticket",
            "purpose": "Platform support under the processing agreement",
            "approver": "Tessa Technical",
            "granted_at": "2026-08-28T10:00:00+02:00",
            "expires_at": "2027-02-28T23:59:00+01:00",
        },
        "effective_from": "2026-08-28T10:00:00+02:00",
        "reason": "Vendor support access for the pilot period",
    },
    {
        "key": "rp-oversight",
        "kind": "review_procedure",
        "body": {
            "type": "human_oversight",
            "trigger": "Weekly, and after any answer flagged as wrong by an agent or a resident",
            "frequency_days": 7,
            "reviewer_role": "Contact centre team lead together with a web editor",
            "criteria": (
                "Sample of 50 conversations: the answer is supported by the linked page; "
                "out-of-scope questions are handed over; no personal advice; tone."
            ),
            "evidence_required": "Review sheet with conversation IDs, verdict and actions",
            "stop_mechanism": (
                "The technical owner switches the widget off in the Lumen Dialog console; the "
                "website then shows the contact form and phone number."
            ),
        },
        "effective_from": "2026-08-31T09:00:00+02:00",
        "reason": "Oversight procedure agreed for the pilot",
    },
    {
        "key": "incident-proc",
        "kind": "incident_procedure",
        "body": {
            "severity_classes": [
                "High: wrong information that can cause a missed deadline, a fine or harm",
                "Low: unhelpful, off-topic or badly worded answer",
            ],
            "intake_channel": (
                "'Report this answer' button in the widget; agents post in the Teams channel "
                "#ask-havenburg-pilot"
            ),
            "triage": (
                "The technical owner checks within one working day whether the source page, "
                "the retrieval or the prompt is at fault."
            ),
            "escalation_path": [
                "Tessa Technical (technical owner; delegate Daan Visser)",
                "Femke Bakker (business owner)",
            ],
            "fallback": "Widget switched off; residents see the contact form and phone number.",
            "kill_switch": "Widget toggle in the Lumen Dialog console (technical owner, delegate)",
        },
        "effective_from": "2026-08-31T09:00:00+02:00",
        "reason": "Minimal incident procedure for the pilot",
    },
    {
        "key": "risk-wrong-answer",
        "kind": "risk",
        "body": _CHATBOT_RISK_WRONG_ANSWER,
        "effective_from": "2026-08-27T14:00:00+02:00",
        "reason": "Risk identified in the pilot intake",
        "updates": [
            {
                "body": {
                    **_CHATBOT_RISK_WRONG_ANSWER,
                    "description": (
                        "The bot answers from website pages; where a page is outdated or "
                        "ambiguous a resident may miss a bulky-waste booking deadline, buy the "
                        "wrong parking permit or get a fine. In the first six weeks agents "
                        "flagged 23 answers, 9 of them quoting the {{2025-10-16|year}} parking "
                        "tariffs from a "
                        "page that had not been updated."
                    ),
                    "likelihood": "likely",
                    "control": (
                        "Answers restricted to retrieved pages, always with a link; 'Report this "
                        "answer' button; web editors fix flagged pages; tariff pages carry a "
                        "valid-from date and the bot no longer quotes amounts but links to the "
                        "tariff table (prompt v0.4)."
                    ),
                    "accepted_on": "2026-10-16",
                },
                "effective_from": "2026-10-16T11:00:00+02:00",
                "reason": "Re-assessed after agents flagged outdated tariff answers",
            },
        ],
    },
    {
        "key": "risk-personal-data",
        "kind": "risk",
        "body": {
            "title": "Residents disclose sensitive personal data in the chat",
            "description": (
                "Residents describe their situation in free text (illness, debts, family "
                "problems); this text is sent to the model provider and kept for 30 days."
            ),
            "likelihood": "likely",
            "impact": "moderate",
            "control": (
                "The widget asks residents not to share personal details. Automatic redaction "
                "of personal data before the text is sent to the model is planned, not built."
            ),
            "residual_risk": "high",
            "owner": "Tessa Technical",
        },
        "effective_from": "2026-09-15T09:30:00+02:00",
        "reason": "Raised by the privacy team; not yet accepted",
    },
    {
        "key": "cl-launch",
        "kind": "change_log",
        "body": {
            "change_type": "config",
            "summary": "Pilot launched on the 'Waste & recycling' and 'Parking' sections",
            "to_version": "pilot-1 (prompt v0.3)",
            "rationale": "Start of the six-month pilot approved by the business owner",
            "test_evidence": (
                "Acceptance test of 120 scripted questions: 104 correct with source link, 11 "
                "correct handovers, 5 wrong answers (source pages corrected before launch)."
            ),
            "approver": "Femke Bakker",
            "deployed_at": "2026-09-01T08:00:00+02:00",
            "rollback_plan": "Switch the widget off in the Lumen Dialog console",
        },
        "effective_from": "2026-09-01T08:00:00+02:00",
        "reason": "Pilot launch",
    },
    {
        "key": "cl-passports",
        "kind": "change_log",
        "body": {
            "change_type": "config",
            "summary": "'Passports and ID cards' section added to the pilot",
            "from_version": "pilot-1",
            "to_version": "pilot-2",
            "rationale": "Appointment questions are the third-largest call category",
            "test_evidence": "40 scripted questions on appointments, fees, documents: 37 correct",
            "approver": "Femke Bakker",
            "deployed_at": "2026-10-12T08:00:00+02:00",
            "rollback_plan": "Remove the section from the widget configuration",
        },
        "effective_from": "2026-10-12T08:00:00+02:00",
        "reason": "Pilot scope extended",
    },
    {
        "key": "cl-prompt-v04",
        "kind": "change_log",
        "body": {
            "change_type": "prompt",
            "summary": (
                "System prompt v0.4: no amounts quoted, refuse questions on individual "
                "entitlement, always offer a handover"
            ),
            "from_version": "prompt v0.3",
            "to_version": "prompt v0.4",
            "rationale": "Outdated tariffs were quoted from stale pages (see risk register)",
            "test_evidence": "Regression set of 160 questions: no amounts quoted, 151 correct",
            "approver": "Femke Bakker",
            "deployed_at": "2026-10-14T07:30:00+02:00",
            "rollback_plan": "Restore prompt v0.3 from the platform's prompt history",
        },
        "effective_from": "2026-10-14T07:30:00+02:00",
        "reason": "Prompt change after flagged answers",
    },
]

# ================================================================= 2. production, complete

_TRIAGE_PROFILE: dict[str, Any] = {
    "name": "Benefits application triage",
    "reference": "demo-benefits-triage",
    "purpose": (
        "Orders the queue of new applications for income support (general social assistance) "
        "so that caseworkers see first the applications most likely to be urgent (no income "
        "this month, children in the household, eviction pending) and complete enough to "
        "decide. For each application it shows a priority band (A, B or C) and the three "
        "factors that contributed most. It does not decide eligibility, the amount or whether "
        "to investigate: a caseworker decides every application within the statutory period, "
        "whatever its band."
    ),
    "known_misuse": (
        "Using the band or score to reject an application, to delay it beyond the statutory "
        "period or to select it for investigation; using it for fraud-risk selection or for "
        "other benefits (special assistance, debt relief); showing the score to applicants or "
        "third parties as an assessment of them; retraining it on nationality, ethnicity or "
        "country of birth."
    ),
    "stage": "pilot",
    "risk_tier": "high",
    "annex_iii_area": (
        "Annex III point 5(a): evaluating the eligibility of natural persons for essential "
        "public assistance benefits and services"
    ),
    "role": "both",
    "deployment_context": (
        "Used by the Income Support teams of the Department of Work and Income inside the "
        "CaseFlow case management system. A score is computed when an application is submitted "
        "through the Digital Counter or keyed in from a paper form, and recomputed when "
        "documents are added. Caseworkers take applications from the top of the queue; team "
        "leads can move any application and can switch scoring off, which returns the queue "
        "to date-of-receipt order."
    ),
    "affected_persons": (
        "Applicants for income support and the members of their household (about 5,800 "
        "applications a year, 30% from households with children); Income Support caseworkers."
    ),
    "organisation": "City of Havenburg: Department of Work and Income",
    "provider": "City of Havenburg: Data & Analytics team (in-house development)",
    "model": "Gradient-boosted trees (LightGBM 4.3), model v2.1, with rule-based urgency overrides",
    "business_value": (
        "Before triage, urgent applicants waited a median of 19 working days for a decision "
        "because applications were handled by date of receipt. Target: at most 10 working days "
        "for urgent applications, without pushing others beyond the 8-week statutory period; "
        "fewer emergency advance payments requested at the desk."
    ),
    "lawful_basis": (
        "GDPR Art 6(1)(c) and (e): the municipality's statutory duty to decide applications for "
        "social assistance; use of personal records data under the national personal records "
        "legislation. No special categories of personal data are used as features."
    ),
    "dpia_status": "done",
    "dpia_reference": "DPIA-2025-014 v2, signed off by the DPO on {{2025-08-14|iso}}",
    "fria_reference": (
        "FRIA-2025-003 (Art 27), completed {{2025-08-20|iso}} with the client council"
    ),
    "external_reference": "https://havenburg.example.org/algorithms/benefits-triage",
    "register_added_on": "2025-03-10",
    "attachments": [
        {
            "name": "DPIA-2025-014-v2-benefits-triage.pdf",
            "uri": "https://dms.example.org/evidence/DPIA-2025-014-v2-benefits-triage.pdf",
            "sha256": "e5f79278aae6e7b13d9666bb98592db19c7de319a8e0bca6a4ce9ed00208ca39",
            "media_type": "application/pdf",
            "size": 1843302,
        },
        {
            "name": "FRIA-2025-003-benefits-triage.pdf",
            "uri": "https://dms.example.org/evidence/FRIA-2025-003-benefits-triage.pdf",
            "sha256": "da194e24fab0155ed0a1f3bfb3fde8e8ae8c2ed8c2dba213f6346d7913a10cb8",
            "media_type": "application/pdf",
            "size": 962114,
        },
    ],
}

_TRIAGE_PROFILE_PRODUCTION: dict[str, Any] = {
    **_TRIAGE_PROFILE,
    "stage": "production",
    "model": "Gradient-boosted trees (LightGBM 4.3), model v2.2, with rule-based urgency overrides",
    "register_updated_on": "2025-09-01",
}

_TRIAGE_PROFILE_V23: dict[str, Any] = {
    **_TRIAGE_PROFILE_PRODUCTION,
    "model": (
        "Gradient-boosted trees (LightGBM 4.3), model v2.3 (retrained on "
        "{{2019-07-01|year}}-{{2025-07-01|year}}), with "
        "rule-based urgency overrides"
    ),
    "register_updated_on": "2026-06-22",
}

_TRIAGE_OVERSIGHT_OWNER: dict[str, Any] = {
    "role": "oversight",
    "person": SAMUEL,
    "authority_scope": (
        "Team lead Income Support, human oversight (Art 14, 26(2)). Reviews the weekly sample "
        "and every override; may move any application between bands and suspend scoring for "
        "the whole queue after consulting the business owner."
    ),
    "start": "2025-09-01",
    "escalation_contact": MARIEKE,
}

_TRIAGE_HISTORY: dict[str, Any] = {
    "name": (
        "Historical income-support applications {{2019-07-01|year}}-{{2024-07-01|year}} (CaseFlow "
        "extract)"
    ),
    "steward": ZOE,
    "uses": ["training", "validation"],
    "origin": "CaseFlow case management: closed applications with decision and decision date",
    "original_purpose": "Case handling and statutory reporting on social assistance",
    "personal_data_categories": [
        "household composition",
        "declared income and assets",
        "housing situation",
        "application, completion and decision dates",
        "application channel",
    ],
    "lawful_basis": (
        "GDPR Art 6(1)(e); further processing compatible with the original purpose "
        "(Art 6(4)), assessed in DPIA-2025-014"
    ),
    "preparation": (
        "Pseudonymised in the analytics environment (citizen service number replaced by a "
        "keyed hash). Nationality, country of birth, health information and criminal records "
        "removed before feature engineering. Label 'urgent' = emergency advance paid, or "
        "application marked urgent by a caseworker within 5 days of receipt."
    ),
    "quality_notes": (
        "3.1% of records lack a decision date (migration from the previous system in "
        "{{2020-07-01|year}}) and "
        "were excluded. Completion dates are reliable from {{2021-07-01|year}} onwards only."
    ),
    "representativeness_notes": (
        "Paper applications (12% of volume) are under-represented before {{2021-07-01|year}} "
        "because they "
        "were scanned without structured fields."
    ),
    "known_bias": (
        "Urgency labels reflect past caseworker judgement; applicants who did not ask for an "
        "advance payment may be under-labelled as urgent."
    ),
    "gaps": "No data on applications withdrawn before they were complete.",
    "provenance": "Extract job caseflow_extract v7, snapshot of {{2024-12-31|iso}}",
    "snapshot_hash": "c3ff832377ee3e0bcdd66aa561bdfa33138cafb5c754060967bad46078d7c25b",
    "retention": (
        "Training snapshots kept for 10 years after the model version is withdrawn, with the "
        "technical documentation (Art 18)"
    ),
    "recipients": ["Data & Analytics team (internal)"],
    "transfers": "None",
    "attachments": [
        {
            "name": "datasheet-caseflow-extract-2019-2024.pdf",
            "uri": "https://dms.example.org/evidence/datasheet-caseflow-extract-2019-2024.pdf",
            "sha256": "0089c40a46c0d755efe46b726c0a1e5baf528bd0b8c23a45c51561515f168bd3",
            "media_type": "application/pdf",
        },
    ],
}

_TRIAGE_BRP: dict[str, Any] = {
    "name": "Personal records database: household composition lookup",
    "steward": NOOR,
    "uses": ["input"],
    "origin": "Municipal personal records database, queried through the national records API",
    "original_purpose": "Registration of residents; statutory source for municipal tasks",
    "personal_data_categories": [
        "address and date of registration at the address",
        "household members and their dates of birth",
    ],
    "lawful_basis": "GDPR Art 6(1)(c) and (e); national personal records legislation",
    "quality_notes": "New registrations can take up to 5 working days to appear.",
    "gaps": (
        "People registered at a shelter or a postal address have no household in the records."
    ),
    "supplier": "National personal records service",
    "retention": "Not stored by the triage: looked up per application, only the features kept",
    "transfers": "None",
}

_TRIAGE_GRANT_CONTRACTOR: dict[str, Any] = {
    "principal": "Pieter Janssen (contract data scientist, Analytica Partners)",
    "principal_type": "person",
    "resource": "configuration",
    "resource_ref": "Model registry and feature pipeline",
    "permission": "write",
    "purpose": "Development of model v2.x during the pilot and the first year of production",
    "approver": "Tessa Technical",
    "granted_at": "2025-04-01T09:00:00+02:00",
    "expires_at": "2026-06-30T23:59:00+02:00",
}

_TRIAGE_MONITORING: dict[str, Any] = {
    "metrics": [
        {
            "name": "Recall of urgent applications in band A (monthly, caseworker-confirmed)",
            "category": "accuracy",
            "threshold": 0.85,
            "direction": "min",
            "unit": "ratio",
        },
        {
            "name": "Precision of band A (monthly, caseworker-confirmed)",
            "category": "accuracy",
            "threshold": 0.80,
            "direction": "min",
            "unit": "ratio",
        },
        {
            "name": "Population stability index of the score distribution (weekly)",
            "category": "drift",
            "threshold": 0.2,
            "direction": "max",
            "unit": "PSI",
        },
        {
            "name": "Band A rate ratio: registered at address < 6 months vs others",
            "category": "fairness",
            "threshold": 0.8,
            "direction": "min",
            "unit": "ratio",
        },
        {
            "name": "Band A rate ratio: paper vs digital applications",
            "category": "fairness",
            "threshold": 0.8,
            "direction": "min",
            "unit": "ratio",
        },
        {
            "name": "Scoring latency, 95th percentile",
            "category": "latency",
            "threshold": 5000,
            "direction": "max",
            "unit": "ms",
        },
        {
            "name": "Share of applications taken in band order by caseworkers",
            "category": "adoption",
            "threshold": 0.7,
            "direction": "min",
            "unit": "ratio",
        },
        {
            "name": "Override rate (applications moved between bands)",
            "category": "other",
            "threshold": 0.15,
            "direction": "max",
            "unit": "ratio",
        },
    ],
    "data_sources": [
        "CaseFlow decisions and decision dates",
        "Scoring service feature store",
        "Override log in CaseFlow",
    ],
    "log_sources": [
        "Scoring service decision log (input hash, model version, band, top factors)",
        "CaseFlow audit log",
        "Feature-flag change log",
    ],
    "log_retention_days": 730,
    "frequency": "Daily automated checks at 06:00; weekly dashboard review; monthly report",
    "alert_routing": (
        "Threshold breaches go to the Teams channel #benefits-triage-alerts and by e-mail to "
        "the technical owner and her delegate; accuracy and fairness breaches also to the "
        "oversight owner and the business owner."
    ),
    "escalation_to_incident": (
        "An accuracy or fairness breach on two consecutive days is opened as an incident of at "
        "least class S2 under the incident procedure."
    ),
    "decommission_triggers": [
        "Recall of urgent applications below 0.75 for two consecutive months",
        "A fairness ratio below 0.8 not corrected within one release",
        "A change of the social assistance rules that invalidates the urgency definition",
        "Funding not renewed for the next budget year",
    ],
    "review_frequency_days": 90,
}

_TRIAGE_MONITORING_V2: dict[str, Any] = {
    **_TRIAGE_MONITORING,
    "metrics": [
        *(
            {**m, "threshold": 2000} if m["category"] == "latency" else m
            for m in _TRIAGE_MONITORING["metrics"]
        ),
        {
            "name": "Household lookup empty-result rate (daily)",
            "category": "drift",
            "threshold": 0.02,
            "direction": "max",
            "unit": "ratio",
        },
    ],
    "data_sources": [
        *_TRIAGE_MONITORING["data_sources"],
        "Personal records lookup responses (counts only)",
    ],
    "escalation_to_incident": (
        "An accuracy or fairness breach on two consecutive days, or a household lookup "
        "empty-result rate above 5% on any day, is opened as an incident of at least class S2 "
        "under the incident procedure; the oversight owner decides at once on suspension."
    ),
}

_TRIAGE_INCIDENT_OPEN: dict[str, Any] = {
    "title": "Recently registered applicants scored as 'no household' and placed in band C",
    "detected_at": "2026-03-09T10:40:00+01:00",
    "became_aware_at": "2026-03-10T15:30:00+01:00",
    "severity": "S1",
    "serious": True,
    "serious_category": "other",
    "description": (
        "After the personal records lookup moved to API v2.0 on {{2026-02-23|iso}}, lookups for "
        "people "
        "registered at their address less than 30 days ago, or at a shelter or postal address, "
        "returned an empty household instead of an error. The model read this as a single "
        "adult without children, so urgent applications from families who had just moved, "
        "often after eviction or separation, were placed in band C. A team lead noticed three "
        "families with children in band C on {{2026-03-09|day_month}}; on {{2026-03-10|day_month}} "
        "the analysis confirmed the "
        "cause and the scale, which makes it an infringement of obligations protecting "
        "fundamental rights (Art 3(49)(c))."
    ),
    "affected_persons": (
        "Under analysis: at least 150 applications received since {{2026-02-23|iso}}."
    ),
    "containment": (
        "Scoring suspended by the oversight owner on {{2026-03-09|iso}} at 11:05; the queue is "
        "back in "
        "date-of-receipt order. All applications received since {{2026-02-23|iso}} are being "
        "re-checked by hand."
    ),
    "status": "open",
}

_TRIAGE_INCIDENT_CONTAINED: dict[str, Any] = {
    **_TRIAGE_INCIDENT_OPEN,
    "affected_persons": (
        "212 applications received {{2026-02-23|day_month}} to {{2026-03-09|day}} from 198 "
        "households, 74 of them "
        "with children; median extra wait 9 working days; 11 households asked for an emergency "
        "advance payment at the desk."
    ),
    "containment": (
        "Scoring suspended by the oversight owner on {{2026-03-09|iso}} at 11:05; the 212 "
        "applications "
        "were re-checked by hand by {{2026-03-12|day_month}} and 61 moved to urgent handling. Fix "
        "v2.2.1 "
        "deployed on {{2026-03-12|day_month}}; scoring resumed on {{2026-03-13|day_month}} after a "
        "replay test."
    ),
    "status": "contained",
    "reported_at": "2026-03-13T14:20:00+01:00",
}

_TRIAGE_RISK_MISPRIORITISATION: dict[str, Any] = {
    "title": "Urgent applicants placed in a low band and their decision delayed",
    "description": (
        "A wrong band delays the decision for a household without income; the statutory period "
        "still applies, but urgent households may go weeks without money."
    ),
    "likelihood": "possible",
    "impact": "major",
    "control": (
        "The band only orders the queue; the statutory deadline is monitored per application; "
        "weekly oversight sample; team leads can override and suspend; the intake desk can mark "
        "an application urgent by hand."
    ),
    "residual_risk": "medium",
    "owner": "Marieke de Vries",
    "accepted_by": "Marieke de Vries (business owner)",
    "accepted_on": "2025-08-28",
}

_TRIAGE_ENTRIES: list[dict[str, Any]] = [
    # -- owners
    {
        "key": "business-owner",
        "kind": "owner",
        "body": {
            "role": "business",
            "person": MARIEKE,
            "authority_scope": (
                "Head of Income Support. Accountable for the outcome and adoption; decides on "
                "use, scope changes and suspension; accepts residual risks up to 'medium'; "
                "signs off releases together with the technical owner."
            ),
            "start": "2025-03-01",
            "delegate": AHMED,
            "escalation_contact": HANNEKE,
        },
        "effective_from": "2025-03-03T09:00:00+01:00",
        "reason": "Business owner named at the start of the pilot",
    },
    {
        "key": "tech-owner",
        "kind": "owner",
        "body": {
            "role": "technical",
            "person": TESSA,
            "authority_scope": (
                "Maintains the model, features and pipelines; runs monitoring; prepares "
                "releases and rollbacks; first responder for incidents; may switch scoring off."
            ),
            "start": "2025-03-01",
            "delegate": ZOE,
            "escalation_contact": MARIEKE,
        },
        "effective_from": "2025-03-03T09:00:00+01:00",
        "reason": "Technical owner named at the start of the pilot",
    },
    {
        "key": "oversight-owner",
        "kind": "owner",
        "body": _TRIAGE_OVERSIGHT_OWNER,
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Human oversight assigned for production (Art 26(2))",
        "updates": [
            {
                "body": {
                    **_TRIAGE_OVERSIGHT_OWNER,
                    "authority_scope": (
                        "Team lead Income Support, human oversight (Art 14, 26(2)). Reviews the "
                        "weekly sample and every override; may move any application between "
                        "bands and may suspend scoring for the whole queue on his own "
                        "authority, informing the business owner within one hour."
                    ),
                    "delegate": AHMED,
                },
                "effective_from": "2026-03-27T09:00:00+01:00",
                "reason": (
                    "Suspension no longer needs prior consultation (review "
                    "{{2026-02-15|year_quarter}})"
                ),
            },
        ],
    },
    {
        "key": "dpo",
        "kind": "owner",
        "body": {
            "role": "dpo",
            "person": INES,
            "authority_scope": (
                "Data protection officer: advises on and monitors GDPR compliance, signs off "
                "the DPIA, contact point for the data protection authority."
            ),
            "start": "2024-05-01",
            "escalation_contact": OLIVIA,
        },
        "effective_from": "2025-03-03T09:00:00+01:00",
        "reason": "DPO recorded for the DPIA",
    },
    # -- data
    {
        "key": "ds-history",
        "kind": "data_source",
        "body": _TRIAGE_HISTORY,
        "effective_from": "2025-03-03T09:00:00+01:00",
        "reason": "Training and validation data of model v2.1 and v2.2",
        "updates": [
            {
                "body": {
                    **_TRIAGE_HISTORY,
                    "name": (
                        "Historical income-support applications "
                        "{{2019-07-01|year}}-{{2025-07-01|year}} (CaseFlow extract)"
                    ),
                    "preparation": (
                        _TRIAGE_HISTORY["preparation"]
                        + " From snapshot {{2025-12-31|iso}}: an empty household lookup is kept as "
                        "the "
                        "explicit value 'household unknown' instead of being dropped."
                    ),
                    "provenance": "Extract job caseflow_extract v8, snapshot of {{2025-12-31|iso}}",
                    "snapshot_hash": (
                        "cb519346bd0f7b617b5e9c7bde68dd42427b976b99aa1e762ddcf208a6b08c74"
                    ),
                    "attachments": [
                        {
                            "name": "datasheet-caseflow-extract-2019-2025.pdf",
                            "uri": "https://dms.example.org/evidence/datasheet-caseflow-extract-2019-2025.pdf",
                            "sha256": (
                                "01ba02d06a6a2c7997f53541352c08af02b64272267df3ce1b7c175816041c25"
                            ),
                            "media_type": "application/pdf",
                        },
                    ],
                },
                "effective_from": "2026-06-01T09:00:00+02:00",
                "reason": "Snapshot refreshed for model v2.3",
            },
        ],
    },
    {
        "key": "ds-test",
        "kind": "data_source",
        "body": {
            "name": "Prospective holdout test set {{2025-04-01|half}}",
            "steward": ZOE,
            "uses": ["test"],
            "origin": (
                "Applications received {{2025-01-01|day_month}} to {{2025-06-30|day}} in the pilot "
                "teams"
            ),
            "original_purpose": "Case handling; set aside as test data before model training",
            "personal_data_categories": ["as in the historical extract (pseudonymised)"],
            "lawful_basis": "GDPR Art 6(1)(e); Art 6(4) compatibility in DPIA-2025-014",
            "preparation": (
                "Never used for training or tuning. Urgency labelled independently by two "
                "caseworkers (Cohen's kappa 0.81); disagreements settled by a team lead."
            ),
            "representativeness_notes": (
                "1,412 applications; 31% with children, 14% paper, 9% registered at their "
                "address for less than 6 months."
            ),
            "provenance": "Frozen on {{2025-07-15|iso}}",
            "snapshot_hash": "561c60ef947a860d74dbe90a9415288e87edd9490aad153e4cde57c9316fda10",
            "retention": "Kept with the technical documentation for 10 years",
        },
        "effective_from": "2025-07-15T12:00:00+02:00",
        "reason": "Test set frozen for the go-live validation",
    },
    {
        "key": "ds-intake",
        "kind": "data_source",
        "body": {
            "name": "Live application intake (Digital Counter and keyed-in paper forms)",
            "steward": NOOR,
            "uses": ["input"],
            "origin": "Application forms submitted to the municipality",
            "original_purpose": "Applying for income support",
            "personal_data_categories": [
                "identity and contact details",
                "household composition",
                "declared income and assets",
                "housing situation and rent",
            ],
            "lawful_basis": "GDPR Art 6(1)(c) and (e)",
            "quality_notes": (
                "Paper forms are keyed in within 2 working days; free-text fields are not used "
                "by the model."
            ),
            "retention": "As the case file: 7 years after the end of the benefit",
            "recipients": ["Income Support caseworkers", "Scoring service (internal)"],
            "transfers": "None",
        },
        "effective_from": "2025-03-03T09:00:00+01:00",
        "reason": "Input data of the scoring service",
    },
    {
        "key": "ds-brp",
        "kind": "data_source",
        "body": _TRIAGE_BRP,
        "effective_from": "2025-03-03T09:00:00+01:00",
        "reason": "Household features come from the personal records database",
        "updates": [
            {
                "body": {
                    **_TRIAGE_BRP,
                    "quality_notes": (
                        "New registrations can take up to 5 working days to appear. Since API "
                        "v2.0 ({{2026-02-23|iso}}) an address without a completed registration "
                        "returns "
                        "an empty household rather than an error (see incident of "
                        "{{2026-03-09|month}})."
                    ),
                    "gaps": (
                        "People registered at a shelter or a postal address, or registered "
                        "less than 5 working days ago, have no household in the records; since "
                        "v2.2.1 they are marked 'household unknown' and reviewed in band A."
                    ),
                },
                "effective_from": "2026-03-12T18:00:00+01:00",
                "reason": "Known gap documented after the {{2026-03-09|month}} incident",
            },
        ],
    },
    # -- access
    {
        "key": "grant-caseworkers",
        "kind": "access_grant",
        "body": {
            "principal": "Income Support caseworkers (AD group GG-WI-Caseworkers)",
            "principal_type": "group",
            "resource": "system",
            "resource_ref": "Triage band and top factors in CaseFlow",
            "permission": "read",
            "purpose": "Take applications in band order and see why an application is urgent",
            "approver": "Marieke de Vries",
            "granted_at": "2025-09-01T08:00:00+02:00",
            "next_recertification": "2027-02-28",
        },
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Production access for caseworkers",
    },
    {
        "key": "grant-teamleads",
        "kind": "access_grant",
        "body": {
            "principal": "Income Support team leads (AD group GG-WI-Teamleads, 6)",
            "principal_type": "group",
            "resource": "system",
            "resource_ref": "CaseFlow triage controls and feature flag triage.scoring.enabled",
            "permission": "override band; suspend and resume scoring",
            "purpose": "Human oversight: override and stop (Art 14(4)(d)-(e), 26(2))",
            "approver": "Marieke de Vries",
            "granted_at": "2025-09-01T08:00:00+02:00",
            "next_recertification": "2027-02-28",
            "can_override": True,
            "can_stop": True,
        },
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Override and stop rights for the oversight role",
    },
    {
        "key": "grant-service",
        "kind": "access_grant",
        "body": {
            "principal": "svc-triage-scoring",
            "principal_type": "service",
            "resource": "data_source",
            "resource_ref": "Live application intake; personal records household lookup",
            "permission": "read",
            "purpose": "Compute the band when an application is submitted or completed",
            "approver": "Marieke de Vries, on advice of the DPO",
            "granted_at": "2025-09-01T08:00:00+02:00",
            "next_recertification": "2027-02-28",
        },
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Service account of the scoring service",
    },
    {
        "key": "grant-contractor",
        "kind": "access_grant",
        "body": _TRIAGE_GRANT_CONTRACTOR,
        "effective_from": "2025-04-01T09:00:00+02:00",
        "reason": "Contract data scientist joins the pilot",
        "updates": [
            {
                "body": {**_TRIAGE_GRANT_CONTRACTOR, "revoked_at": "2026-03-31T17:00:00+02:00"},
                "effective_from": "2026-03-31T17:00:00+02:00",
                "reason": "Contract ended three months early; access revoked",
            },
        ],
    },
    {
        "key": "grant-auditor",
        "kind": "access_grant",
        "body": {
            "principal": "Arjen Auditor (internal audit)",
            "principal_type": "person",
            "resource": "logs",
            "resource_ref": "Scoring decision log and CaseFlow audit log",
            "permission": "read",
            "purpose": "Internal audit of the {{2026-07-01|year}} operation of the triage",
            "approver": "Olivia Officer",
            "granted_at": "2026-10-01T09:00:00+02:00",
            "expires_at": "2027-01-31T23:59:00+01:00",
        },
        "effective_from": "2026-10-01T09:00:00+02:00",
        "reason": "Audit access, time-limited",
    },
    # -- review procedures and performed reviews
    {
        "key": "rp-periodic",
        "kind": "review_procedure",
        "body": {
            "type": "periodic",
            "trigger": "Every 90 days, and after any serious incident",
            "frequency_days": 90,
            "reviewer_role": (
                "Review board: business owner, technical owner, oversight owner and DPO; the "
                "compliance officer as secretary"
            ),
            "criteria": (
                "Monitoring metrics within thresholds over the period; overrides and their "
                "reasons; incidents and corrective actions closed; DPIA and FRIA assumptions "
                "still hold; access list current; decision times per band."
            ),
            "evidence_required": (
                "Monitoring report for the period, override log extract, incident register "
                "extract, signed minutes"
            ),
            "stop_mechanism": (
                "The board may decide 'suspend': the technical owner sets "
                "triage.scoring.enabled=false and the queue returns to date-of-receipt order."
            ),
        },
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Quarterly review agreed at go-live",
    },
    {
        "key": "rp-validation",
        "kind": "review_procedure",
        "body": {
            "type": "validation",
            "trigger": (
                "Before any model, feature, threshold or input-data change reaches production; "
                "at least once a year"
            ),
            "frequency_days": 365,
            "reviewer_role": (
                "Technical owner with an independent validator from the Data & Analytics team "
                "who did not build the release"
            ),
            "criteria": (
                "On the holdout test set: recall of urgent applications in band A >= 0.85 and "
                "precision >= 0.80; band A rate ratio >= 0.8 for every monitored subgroup; no "
                "excluded feature used; training run reproducible from the recorded snapshot."
            ),
            "evidence_required": "Validation report, training run ID, test set hash, model card",
            "stop_mechanism": "The release is blocked in the deployment pipeline until approved",
        },
        "effective_from": "2025-08-15T09:00:00+02:00",
        "reason": "Validation gate for every release, agreed before go-live",
    },
    {
        "key": "rev-validation-v22",
        "kind": "review",
        "body": {
            "procedure_entry_id": "@rp-validation",
            "performed_on": "2025-08-20",
            "reviewers": ["Tessa Technical", "Yusuf Demir (independent validator)"],
            "findings": (
                "Model v2.2 on the {{2025-04-01|half}} holdout set: recall of urgent applications "
                "in band A "
                "0.86, precision 0.82; band A rate ratios 0.87 (registered less than 6 months) "
                "and 0.90 (paper applications). No excluded features used."
            ),
            "decision": "approve",
            "actions": ["Go-live with v2.2 for all six teams on {{2025-09-01|iso}}"],
            "next_due": "2026-08-20",
        },
        "effective_from": "2025-08-20T15:00:00+02:00",
        "reason": "Validation of model v2.2 before go-live",
    },
    {
        "key": "rp-oversight",
        "kind": "review_procedure",
        "body": {
            "type": "human_oversight",
            "trigger": "Weekly",
            "frequency_days": 7,
            "reviewer_role": "Oversight owner (team lead Income Support)",
            "criteria": (
                "Random sample of 25 scored applications: band plausible given the file; "
                "factors shown make sense; every override of the week has a reason."
            ),
            "evidence_required": "Oversight log in CaseFlow with sampled application IDs",
            "stop_mechanism": "Team lead switches triage.scoring.enabled off in CaseFlow",
        },
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Weekly human oversight",
    },
    {
        "key": "rp-access",
        "kind": "review_procedure",
        "body": {
            "type": "access_recertification",
            "trigger": "Every 180 days",
            "frequency_days": 180,
            "reviewer_role": "Business owner with the CaseFlow functional administrator",
            "criteria": "Every account still needs its access; leavers and movers removed",
            "evidence_required": "Signed account list exported from the directory",
        },
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Access recertification cycle",
    },
    {
        "key": "rev-2026-q1",
        "kind": "review",
        "body": {
            "procedure_entry_id": "@rp-periodic",
            "system_version_hash": (
                "18990dafbdfb852ca5d3abf23c7cbf5fa2b8528f06274012f955fa6802bed718"
            ),
            "performed_on": "2026-03-26",
            "reviewers": [
                "Marieke de Vries",
                "Tessa Technical",
                "Samuel Okafor",
                "Inês Carvalho",
                "Olivia Officer",
            ],
            "findings": (
                "Serious incident of {{2026-03-09|month}} (empty household lookups after the "
                "records API "
                "change) contained and reported within 3 days of awareness. The API change was "
                "treated as a data change without a validation review. Apart from the incident "
                "period all metrics within thresholds; override rate 7.9%."
            ),
            "decision": "conditional",
            "actions": [
                "Add the household lookup empty-result rate to the monitoring plan",
                "Input-data changes trigger the validation review from now on",
                "Retrain with 'household unknown' as an explicit value (v2.3) by "
                "{{2026-06-30|iso}}",
                "Oversight owner may suspend scoring without prior consultation",
                "Refresh DPIA section 4 on personal records data",
            ],
            "next_due": "2026-06-24",
        },
        "effective_from": "2026-03-26T16:00:00+01:00",
        "reason": "Quarterly review {{2026-02-15|quarter}}",
    },
    {
        "key": "rev-validation-v23",
        "kind": "review",
        "body": {
            "procedure_entry_id": "@rp-validation",
            "system_version_hash": (
                "787ade6e862cd0a3a9e33a0af6e2c23ee2ab80832528478eead10ebefc0fe160"
            ),
            "performed_on": "2026-06-12",
            "reviewers": ["Tessa Technical", "Yusuf Demir (independent validator)"],
            "findings": (
                "Model v2.3 on the {{2025-04-01|half}} holdout set: recall of urgent applications "
                "in band A "
                "0.89 (v2.2.1: 0.86), precision 0.83 (0.82). Band A rate ratio for applicants "
                "registered less than 6 months 0.91 and for paper applications 0.88. No "
                "excluded features; training run reproduced from snapshot {{2025-12-31|iso}}."
            ),
            "decision": "approve",
            "actions": [
                "Deploy v2.3 with unchanged thresholds; re-check thresholds in "
                "{{2026-08-15|quarter_name}}"
            ],
            "next_due": "2027-06-12",
            "attachments": [
                {
                    "name": "validation-report-triage-v2.3.pdf",
                    "uri": "https://dms.example.org/evidence/validation-report-triage-v2.3.pdf",
                    "sha256": "fbf9604902571ab026ad1f87ed0a27997d952dbe356588fd49599e80f063761c",
                    "media_type": "application/pdf",
                    "size": 734512,
                },
            ],
        },
        "effective_from": "2026-06-12T15:00:00+02:00",
        "reason": "Validation of model v2.3",
    },
    {
        "key": "rev-2026-q2",
        "kind": "review",
        "body": {
            "procedure_entry_id": "@rp-periodic",
            "system_version_hash": (
                "0ad07901baf897eab2a0da80b0bf0e37e650353df4536e203772a3e7020f142a"
            ),
            "performed_on": "2026-06-23",
            "reviewers": ["Marieke de Vries", "Tessa Technical", "Samuel Okafor", "Inês Carvalho"],
            "findings": (
                "All {{2026-02-15|quarter_name}} actions done; v2.3 live since "
                "{{2026-06-22|day_month}}. Median days to decision for "
                "urgent applications 8 (target <= 10), others 24."
            ),
            "decision": "approve",
            "next_due": "2026-09-21",
        },
        "effective_from": "2026-06-23T16:00:00+02:00",
        "reason": "Quarterly review {{2026-05-15|quarter}}",
    },
    {
        "key": "rev-access-2026-09",
        "kind": "review",
        "body": {
            "procedure_entry_id": "@rp-access",
            "performed_on": "2026-09-01",
            "reviewers": ["Marieke de Vries", "Noor Haddad"],
            "findings": (
                "62 accounts checked: 3 leavers removed, the contractor's access confirmed "
                "revoked, the service account still needed."
            ),
            "decision": "approve",
            "next_due": "2027-02-28",
        },
        "effective_from": "2026-09-01T12:00:00+02:00",
        "reason": "Access recertification {{2026-09-01|month}}",
    },
    {
        "key": "rev-2026-q3",
        "kind": "review",
        "body": {
            "procedure_entry_id": "@rp-periodic",
            "system_version_hash": (
                "0ad07901baf897eab2a0da80b0bf0e37e650353df4536e203772a3e7020f142a"
            ),
            "performed_on": "2026-09-21",
            "reviewers": ["Marieke de Vries", "Tessa Technical", "Samuel Okafor", "Inês Carvalho"],
            "findings": (
                "Metrics within thresholds. Recall drifting down (0.87 in "
                "{{2026-08-15|month_name}}) as the share "
                "of urgent applications rose after the rent increases of "
                "{{2026-07-01|month_name}}; the band A "
                "threshold looks too strict."
            ),
            "decision": "approve",
            "actions": ["Lower the band A threshold from 0.62 to 0.58 after a validation check"],
            "next_due": "2026-12-20",
        },
        "effective_from": "2026-09-21T16:00:00+02:00",
        "reason": "Quarterly review {{2026-08-15|quarter}}",
    },
    {
        "key": "rev-oversight-2026-11-23",
        "kind": "review",
        "body": {
            "procedure_entry_id": "@rp-oversight",
            "performed_on": "2026-11-23",
            "reviewers": ["Samuel Okafor"],
            "findings": (
                "25 applications sampled, all bands plausible. 4 overrides this week, each "
                "with a reason (3 eviction notices received after scoring, 1 keying error)."
            ),
            "decision": "approve",
            "next_due": "2026-11-30",
        },
        "effective_from": "2026-11-23T15:00:00+01:00",
        "reason": "Weekly oversight check",
    },
    # -- incidents
    {
        "key": "incident-proc",
        "kind": "incident_procedure",
        "body": {
            "severity_classes": [
                "S1: serious incident (Art 3(49)): harm to health, serious disruption of "
                "critical infrastructure, infringement of fundamental-rights obligations, "
                "serious harm to property or the environment",
                "S2: wrong bands for a group of applicants, or scoring unavailable for more "
                "than one working day",
                "S3: isolated wrong band or performance degradation without effect on decisions",
            ],
            "intake_channel": (
                "'Report triage problem' button in CaseFlow or the service desk (category "
                "AI-TRIAGE); monitoring alerts; complaints and objections from applicants"
            ),
            "triage": (
                "The technical owner or her delegate classifies within 4 working hours. The "
                "oversight owner decides at once whether to suspend scoring. A suspected S1 "
                "goes to the business owner and the compliance officer the same day."
            ),
            "escalation_path": [
                "Tessa Technical, technical owner (delegate Zoë Çelik)",
                "Samuel Okafor, oversight owner: may suspend scoring",
                "Marieke de Vries, business owner",
                "Olivia Officer, compliance officer: decides on the Art 73 report",
                "Inês Carvalho, DPO, when personal data are involved (GDPR Art 33)",
                "Director of Work and Income and the responsible alderman for S1",
            ],
            "fallback": (
                "Queue in date-of-receipt order; the intake desk marks applicants who have no "
                "income this month as urgent by hand (work instruction WI-P-17)."
            ),
            "kill_switch": (
                "Feature flag triage.scoring.enabled in CaseFlow: team leads, the technical owner "
                "and her delegate can switch it off; within 5 minutes bands are hidden and no "
                "new scores are computed."
            ),
            "communication_duties": (
                "Applicants whose decision may have been delayed are told in writing, with the "
                "complaints and objection route. The client council hears of every S1 and S2 "
                "incident. The algorithm register entry is updated."
            ),
            "regulator_contacts": [
                "Market surveillance authority for Annex III point 5 systems (Art 73 report)",
                "Data protection authority (personal data breach, GDPR Art 33)",
            ],
            "deadlines": (
                "Art 73: report a serious incident immediately after establishing a causal link, "
                "and no later than 15 days after becoming aware; 10 days in case of death; 2 "
                "days for a widespread infringement or a serious disruption of critical "
                "infrastructure. An incomplete first report is allowed. GDPR breach: 72 hours."
            ),
        },
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Incident procedure for production",
    },
    {
        "key": "inc-latency",
        "kind": "incident",
        "body": {
            "title": "Scoring latency above 10 seconds during the month-end intake peak",
            "detected_at": "2026-01-30T09:15:00+01:00",
            "became_aware_at": "2026-01-30T09:15:00+01:00",
            "severity": "S3",
            "serious": False,
            "description": (
                "On the last working day of {{2026-01-30|month_name}} 640 applications arrived "
                "between 08:00 and "
                "10:00. The 95th percentile scoring latency reached 14 seconds; CaseFlow showed "
                "'score pending' and caseworkers took applications by date of receipt."
            ),
            "affected_persons": "No decision affected; caseworkers lost some time.",
            "containment": "Scoring service scaled from 2 to 4 replicas at 09:40",
            "status": "closed",
            "root_cause": "The autoscaling limit of 2 replicas set in the pilot was never raised",
            "corrective_actions": [
                "Autoscaling maximum raised to 6 replicas",
                "Latency alert lowered from 5 to 2 seconds (monitoring plan)",
            ],
        },
        "effective_from": "2026-02-03T10:00:00+01:00",
        "reason": "Minor incident recorded after closure",
    },
    {
        "key": "inc-household",
        "kind": "incident",
        "body": _TRIAGE_INCIDENT_OPEN,
        "effective_from": "2026-03-10T16:00:00+01:00",
        "reason": "Serious incident opened",
        "updates": [
            {
                "body": _TRIAGE_INCIDENT_CONTAINED,
                "effective_from": "2026-03-13T14:30:00+01:00",
                "reason": "Contained; initial (incomplete) report sent under Art 73",
            },
            {
                "body": {
                    **_TRIAGE_INCIDENT_CONTAINED,
                    "status": "closed",
                    "root_cause": (
                        "Records API v2.0 returns HTTP 200 with an empty household list instead "
                        "of 404 for addresses without a completed registration. The feature "
                        "pipeline treated an empty list as a valid household. The integration "
                        "tests used only fully registered test persons, and the API change was "
                        "handled as a data change without a validation review."
                    ),
                    "corrective_actions": [
                        "An empty household is 'household unknown' and is reviewed in band A "
                        "(v2.2.1, deployed {{2026-03-12|iso}})",
                        "Monitoring metric 'household lookup empty-result rate', alert above 2%",
                        "Every input-data change now goes through the validation review",
                        "Model v2.3 trained with 'household unknown' as an explicit value",
                        "Letters with apology and the complaints route sent to the 198 "
                        "households on {{2026-03-20|iso}}",
                        "Complete report to the market surveillance authority, {{2026-04-14|iso}}",
                    ],
                    "attachments": [
                        {
                            "name": "art73-final-report-2026-03-household-lookup.pdf",
                            "uri": "https://dms.example.org/evidence/art73-final-report-2026-03-household-lookup.pdf",
                            "sha256": (
                                "bc2d4ff36c2aa6116ae05fc560b14322ec993c16d956d400c428e7cdc84c1aec"
                            ),
                            "media_type": "application/pdf",
                        },
                    ],
                },
                "effective_from": "2026-04-17T10:00:00+02:00",
                "reason": "Closed after the complete report and all corrective actions",
            },
        ],
    },
    # -- changes
    {
        "key": "cl-golive",
        "kind": "change_log",
        "body": {
            "change_type": "config",
            "summary": "Production go-live: scoring enabled for all six Income Support teams",
            "from_version": "pilot, model v2.1 (2 teams)",
            "to_version": "model v2.2 (6 teams)",
            "rationale": (
                "Pilot evaluation: median working days to decision for urgent applications fell "
                "from 19 to 8 in the pilot teams, with no difference in approval rates between "
                "bands after caseworker review."
            ),
            "test_evidence": (
                "Validation of v2.2 on the {{2025-04-01|half}} holdout set: recall 0.86"
            ),
            "approver": "Marieke de Vries; Board of Mayor and Aldermen decision 2025-0812",
            "deployed_at": "2025-09-01T07:30:00+02:00",
            "rollback_plan": (
                "Switch triage.scoring.enabled off; teams continue in date-of-receipt order"
            ),
            "substantial_modification": False,
            "substantial_modification_rationale": (
                "Wider roll-out of the validated system for the same intended purpose"
            ),
            "attachments": [
                {
                    "name": "validation-report-triage-v2.2.pdf",
                    "uri": "https://dms.example.org/evidence/validation-report-triage-v2.2.pdf",
                    "sha256": "3784b80a97fedb9107c475237da2915de4e9f0522e2b48c4f3e49bdac6275bdc",
                    "media_type": "application/pdf",
                },
            ],
        },
        "effective_from": "2025-09-01T07:30:00+02:00",
        "reason": "Go-live",
    },
    {
        "key": "cl-records-api",
        "kind": "change_log",
        "body": {
            "change_type": "data",
            "summary": "Personal records lookup moved to API v2.0 (v1.3 switched off by supplier)",
            "from_version": "records API v1.3",
            "to_version": "records API v2.0",
            "rationale": "The national supplier ended support for v1.3 on {{2026-02-28|iso}}",
            "test_evidence": "Integration test suite (48 test persons) passed",
            "approver": "Tessa Technical",
            "deployed_at": "2026-02-23T06:00:00+01:00",
            "rollback_plan": "None after {{2026-02-28|iso}}: the supplier switches v1.3 off",
            "substantial_modification": False,
            "substantial_modification_rationale": "No change to the model or its purpose",
        },
        "effective_from": "2026-02-23T06:00:00+01:00",
        "reason": "Supplier-driven API change",
        "updates": [
            {
                "body": {
                    "change_type": "data",
                    "summary": (
                        "Personal records lookup moved to API v2.0 (v1.3 switched off by supplier)"
                    ),
                    "from_version": "records API v1.3",
                    "to_version": "records API v2.0",
                    "rationale": (
                        "The national supplier ended support for v1.3 on {{2026-02-28|iso}}"
                    ),
                    "test_evidence": (
                        "Integration test suite (48 test persons) passed. Post-incident note: "
                        "the suite held no recently registered persons and no shelter "
                        "addresses, so the empty-household response was not tested; this "
                        "change caused the serious incident of {{2026-03-09|month}}."
                    ),
                    "approver": "Tessa Technical",
                    "deployed_at": "2026-02-23T06:00:00+01:00",
                    "rollback_plan": (
                        "None after {{2026-02-28|iso}}: the supplier switches v1.3 off"
                    ),
                    "substantial_modification": False,
                    "substantial_modification_rationale": "No change to the model or its purpose",
                },
                "effective_from": "2026-03-20T10:00:00+01:00",
                "reason": "Annotated after the incident analysis",
            },
        ],
    },
    {
        "key": "cl-fix-v221",
        "kind": "change_log",
        "body": {
            "change_type": "code",
            "summary": "Empty household lookup treated as 'household unknown' and sent to band A",
            "from_version": "v2.2",
            "to_version": "v2.2.1",
            "rationale": "Corrective action for the {{2026-03-09|month}} serious incident",
            "test_evidence": (
                "Replay of the 212 affected applications: every household with children now in "
                "band A or in 'household unknown' review; holdout recall unchanged (0.86)."
            ),
            "approver": "Marieke de Vries",
            "deployed_at": "2026-03-12T18:00:00+01:00",
            "rollback_plan": "Keep scoring suspended rather than redeploy v2.2",
            "substantial_modification": False,
            "substantial_modification_rationale": "Bug fix in feature preparation",
        },
        "effective_from": "2026-03-12T18:00:00+01:00",
        "reason": "Incident fix",
    },
    {
        "key": "cl-model-v23",
        "kind": "change_log",
        "body": {
            "change_type": "model",
            "summary": (
                "Model retrained on {{2019-07-01|year}}-{{2025-07-01|year}} with 'household "
                "unknown' as explicit value"
            ),
            "from_version": "v2.2.1",
            "to_version": "v2.3",
            "rationale": (
                "Action of the {{2026-02-15|quarter}} review; refreshed data after the rent "
                "increases"
            ),
            "test_evidence": (
                "Validation review of {{2026-06-12|iso}} (recall 0.89, precision 0.83)"
            ),
            "approver": "Marieke de Vries and Tessa Technical",
            "deployed_at": "2026-06-22T07:00:00+02:00",
            "rollback_plan": "Model registry keeps v2.2.1; switch back by configuration",
            "substantial_modification": False,
            "substantial_modification_rationale": (
                "Retraining within the pre-determined change plan of the technical "
                "documentation: same features, same intended purpose, performance within the "
                "validated limits (Art 43(4))."
            ),
            "attachments": [
                {
                    "name": "validation-report-triage-v2.3.pdf",
                    "uri": "https://dms.example.org/evidence/validation-report-triage-v2.3.pdf",
                    "sha256": "fbf9604902571ab026ad1f87ed0a27997d952dbe356588fd49599e80f063761c",
                    "media_type": "application/pdf",
                },
            ],
        },
        "effective_from": "2026-06-22T07:00:00+02:00",
        "reason": "Model v2.3 deployed",
    },
    {
        "key": "cl-threshold",
        "kind": "change_log",
        "body": {
            "change_type": "config",
            "summary": "Band A threshold lowered from 0.62 to 0.58",
            "from_version": "thresholds {{2026-06-22|year_month}}",
            "to_version": "thresholds {{2026-10-05|year_month}}",
            "rationale": "Action of the {{2026-08-15|quarter}} review: recall drifting down",
            "test_evidence": (
                "Holdout set at 0.58: recall 0.92, precision 0.80; band A grows from 28% to 33% "
                "of applications"
            ),
            "approver": "Marieke de Vries",
            "deployed_at": "2026-10-05T07:00:00+02:00",
            "rollback_plan": "Restore threshold 0.62 in the scoring configuration",
            "substantial_modification": False,
        },
        "effective_from": "2026-10-05T07:00:00+02:00",
        "reason": "Threshold change",
    },
    # -- monitoring, integration, adoption, funding
    {
        "key": "monitoring",
        "kind": "monitoring_plan",
        "body": _TRIAGE_MONITORING,
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Monitoring plan for production",
        "updates": [
            {
                "body": _TRIAGE_MONITORING_V2,
                "effective_from": "2026-03-27T09:00:00+01:00",
                "reason": (
                    "Household lookup metric added and latency threshold tightened "
                    "(incidents of {{2026-01-30|month_name}} and {{2026-03-09|month}})"
                ),
            },
        ],
    },
    {
        "key": "int-caseflow",
        "kind": "integration",
        "body": {
            "name": "CaseFlow case management",
            "connects_to": "CaseFlow 9 (Pinewood Software), Income Support module",
            "method": (
                "Event webhook on 'application submitted' and 'document added'; band, score "
                "and top factors written back through the CaseFlow REST API v3 (mutual TLS, "
                "service account svc-triage-scoring)"
            ),
            "data_exchanged": (
                "Application ID and structured application fields; back: band, score, top "
                "three factors, model version"
            ),
            "fallback": (
                "If the scoring service is unreachable CaseFlow shows 'score pending' and the "
                "application keeps its date-of-receipt place; a retry job back-fills scores "
                "within 4 hours."
            ),
            "owner": "Tessa Technical",
            "status": "live",
        },
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Production integration",
    },
    {
        "key": "int-records",
        "kind": "integration",
        "body": {
            "name": "Personal records household lookup",
            "connects_to": "Municipal personal records database via the national records API",
            "method": "REST query per application (citizen service number pseudonymised in logs)",
            "data_exchanged": "Household members, dates of birth, date of registration at address",
            "fallback": (
                "If the API is unavailable the household feature is left missing and the "
                "application goes to band B."
            ),
            "owner": "Tessa Technical",
            "status": "live",
        },
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Production integration",
        "updates": [
            {
                "body": {
                    "name": "Personal records household lookup",
                    "connects_to": (
                        "Municipal personal records database via the national records API v2.0"
                    ),
                    "method": (
                        "REST query per application (citizen service number pseudonymised in logs)"
                    ),
                    "data_exchanged": (
                        "Household members, dates of birth, date of registration at address"
                    ),
                    "fallback": (
                        "If the API is unavailable or returns an empty household, the "
                        "application is marked 'household unknown' and reviewed by a caseworker "
                        "in band A."
                    ),
                    "owner": "Tessa Technical",
                    "status": "live",
                },
                "effective_from": "2026-03-12T18:00:00+01:00",
                "reason": "Fallback changed with fix v2.2.1",
            },
        ],
    },
    {
        "key": "adoption",
        "kind": "adoption_plan",
        "body": {
            "user_groups": [
                "Income Support caseworkers (6 teams, 48 staff)",
                "Income Support team leads (6)",
                "Intake desk staff (read-only view of the band)",
                "Complaints desk (explains the triage to applicants)",
            ],
            "training": (
                "90-minute session before go-live: what the band means and does not mean, "
                "automation bias, how to override and report. New staff trained in their first "
                "week; e-learning refresher every 12 months (AI literacy, Art 4)."
            ),
            "guidance": (
                "Work instruction WI-P-21: take the top application in band A, then B, then C; "
                "the band never replaces the eligibility check; every application is decided "
                "within the statutory period whatever its band; write a short reason when "
                "moving an application between bands."
            ),
            "support_pathway": (
                "CaseFlow functional administrators via the service desk (category AI-TRIAGE), "
                "answer within one working day"
            ),
            "escalation_pathway": (
                "Team lead, then oversight owner, then business owner; wrong bands for a group "
                "of applicants are reported as an incident"
            ),
            "success_metric": (
                "Median working days from complete application to decision, urgent applications"
            ),
            "success_threshold": "<= 10 working days, non-urgent median staying <= 30",
            "launch_date": "2025-09-01",
        },
        "effective_from": "2025-08-25T09:00:00+02:00",
        "reason": "Adoption plan approved before go-live",
    },
    {
        "key": "funding",
        "kind": "funding",
        "body": {
            "funder": "Department of Work and Income, operating budget line 6.2.14",
            "budget": "96000.00",
            "currency": "EUR",
            "covers": ["run", "monitor"],
            "period": "{{2025-09-01|month_name}} to {{2025-12-31|month}}",
            "start": "2025-09-01",
            "end": "2025-12-31",
        },
        "effective_from": "2025-09-01T08:00:00+02:00",
        "reason": "Running cost for the first production months",
        "updates": [
            {
                "body": {
                    "funder": "Department of Work and Income, operating budget line 6.2.14",
                    "budget": "212000.00",
                    "currency": "EUR",
                    "covers": ["run", "improve", "monitor"],
                    "period": (
                        "Budget year {{2026-07-01|year}} ({{2027-07-01|year}}-{{2028-07-01|year}} "
                        "reserved in the multi-year budget)"
                    ),
                    "start": "2026-01-01",
                    "end": "2026-12-31",
                },
                "effective_from": "2026-01-01T00:00:00+01:00",
                "reason": (
                    "{{2026-07-01|year}} budget adopted by the council, including improvement work"
                ),
            },
        ],
    },
    # -- waivers
    {
        "key": "waiver-funding",
        "kind": "waiver",
        "body": {
            "area": "lifecycle_funding",
            "justification": (
                "The {{2025-07-01|year}} operating budget pays to run and monitor the triage from "
                "go-live; "
                "improvement work (retraining, fixes) is in the {{2026-07-01|year}} budget "
                "proposal, which the "
                "council decides in {{2025-11-15|month}}. Go-live is not delayed for that decision."
            ),
            "approver": OLIVIA,
            "approved_on": "2025-08-29",
            "expires_at": "2026-01-01T00:00:00+01:00",
            "conditions": "Improvement funded from {{2026-01-01|day}}, or the scope cut to running",
        },
        "effective_from": "2025-08-29T11:00:00+02:00",
        "reason": "Lifecycle funding waived until the {{2026-07-01|year}} budget",
    },
    # -- risks
    {
        "key": "risk-misprioritisation",
        "kind": "risk",
        "body": _TRIAGE_RISK_MISPRIORITISATION,
        "effective_from": "2025-08-28T10:00:00+02:00",
        "reason": "Risk register at go-live",
        "updates": [
            {
                "body": {
                    **_TRIAGE_RISK_MISPRIORITISATION,
                    "description": (
                        _TRIAGE_RISK_MISPRIORITISATION["description"]
                        + " Occurred in {{2026-03-09|month}} through an input-data change (212 "
                        "applications)."
                    ),
                    "control": (
                        _TRIAGE_RISK_MISPRIORITISATION["control"]
                        + " Since {{2026-04-17|month}}: household lookup empty-result monitoring "
                        "with "
                        "alert; every input-data change goes through the validation review."
                    ),
                    "accepted_by": (
                        "Marieke de Vries (business owner), review board {{2026-03-26|iso}}"
                    ),
                    "accepted_on": "2026-04-17",
                },
                "effective_from": "2026-04-17T10:00:00+02:00",
                "reason": "Re-assessed after the serious incident of {{2026-03-09|month}}",
            },
        ],
    },
    {
        "key": "risk-automation-bias",
        "kind": "risk",
        "body": {
            "title": "Caseworkers treat band C as a sign that the applicant is not eligible",
            "likelihood": "possible",
            "impact": "moderate",
            "control": (
                "Band not shown on the decision screen; training on automation bias; quarterly "
                "comparison of approval rates per band (no difference expected)"
            ),
            "residual_risk": "low",
            "owner": "Samuel Okafor",
            "accepted_by": "Marieke de Vries (business owner)",
            "accepted_on": "2025-08-28",
        },
        "effective_from": "2025-08-28T10:00:00+02:00",
        "reason": "Risk register at go-live",
    },
    {
        "key": "risk-proxy-discrimination",
        "kind": "risk",
        "body": {
            "title": "Indirect discrimination through proxies (postal code, channel, language)",
            "description": (
                "Features correlated with migration background or disability could give some "
                "groups lower bands."
            ),
            "likelihood": "possible",
            "impact": "major",
            "control": (
                "Postal code and document language excluded as features; band A rate ratios "
                "per channel and registration age monitored; FRIA discussed with the client "
                "council"
            ),
            "residual_risk": "medium",
            "owner": "Tessa Technical",
            "accepted_by": "Marieke de Vries, on advice of the DPO",
            "accepted_on": "2025-08-28",
        },
        "effective_from": "2025-08-28T10:00:00+02:00",
        "reason": "Risk register at go-live",
    },
    {
        "key": "risk-function-creep",
        "kind": "risk",
        "body": {
            "title": "Scores reused for fraud investigation",
            "likelihood": "rare",
            "impact": "severe",
            "control": (
                "Access limited to Income Support groups; no export of scores; purpose "
                "limitation in the DPIA; the enforcement team has no access grant"
            ),
            "residual_risk": "low",
            "owner": "Marieke de Vries",
            "accepted_by": "Olivia Officer (compliance officer)",
            "accepted_on": "2025-08-28",
        },
        "effective_from": "2025-08-28T10:00:00+02:00",
        "reason": "Risk register at go-live",
    },
    {
        "key": "risk-rule-change",
        "kind": "risk",
        "body": {
            "title": "New social assistance rules change who is urgent",
            "description": (
                "The cost-sharing norm changes on {{2027-01-01|iso}}; the learned urgency pattern "
                "may "
                "no longer fit."
            ),
            "likelihood": "likely",
            "impact": "moderate",
            "control": (
                "Drift and recall monitoring; validation review before the new rules apply; "
                "decommission trigger if the urgency definition no longer holds"
            ),
            "residual_risk": "medium",
            "owner": "Tessa Technical",
            "accepted_by": "Marieke de Vries (business owner)",
            "accepted_on": "2026-09-21",
        },
        "effective_from": "2026-09-21T16:00:00+02:00",
        "reason": "Raised in the {{2026-08-15|quarter}} review",
    },
]

# ========================================================================== 3. retired

_INVOICE_PROFILE: dict[str, Any] = {
    "name": "Invoice reading and cost-centre coding",
    "reference": "demo-invoice-ocr",
    "purpose": (
        "Reads supplier invoices arriving as PDF in the accounts payable mailbox, extracts "
        "supplier, invoice number, dates, amounts and VAT, matches them to purchase orders and "
        "proposes a cost centre and general-ledger account for an accounts payable clerk to "
        "confirm before booking."
    ),
    "known_misuse": (
        "Booking or paying without the clerk's confirmation; accepting a changed supplier bank "
        "account from an invoice without the call-back check."
    ),
    "stage": "production",
    "risk_tier": "minimal",
    "role": "deployer",
    "deployment_context": (
        "Accounts payable team of the Finance Shared Service Centre; about 38,000 invoices a "
        "year; proposals shown in the ERP booking screen."
    ),
    "affected_persons": (
        "Suppliers of the municipality (mostly organisations; names and bank details of sole "
        "traders); accounts payable clerks."
    ),
    "organisation": "City of Havenburg: Finance Shared Service Centre",
    "provider": "DocuRead AI Ltd. (SaaS, EU region)",
    "model": "DocuRead Extract 3.1; in-house cost-centre classifier (logistic regression) v1.4",
    "business_value": (
        "Manual keying down from about 4 to 1.5 minutes per invoice; invoices paid within 30 "
        "days up from 78% to 91%."
    ),
    "lawful_basis": (
        "GDPR Art 6(1)(b) and (c) for personal data of sole traders: contracts and statutory "
        "bookkeeping obligations."
    ),
    "dpia_status": "not_done",
    "dpia_reference": "DPIA pre-scan PS-2023-112: full DPIA not required",
    "register_added_on": "2024-01-22",
}

_INVOICE_FORMER_TECH_OWNER: dict[str, Any] = {
    "role": "technical",
    "person": JORG,
    "authority_scope": "Maintains the DocuRead connector, the classifier and the ERP import",
    "start": "2024-01-15",
}

_INVOICE_GRANT: dict[str, Any] = {
    "principal": "svc-docuread-ap",
    "principal_type": "service",
    "resource": "data_source",
    "resource_ref": "Accounts payable mailbox (invoices@havenburg.example.org)",
    "permission": "read and move messages",
    "purpose": "Fetch incoming invoices for extraction",
    "approver": "Ruth Achterberg",
    "granted_at": "2024-01-29T09:00:00+01:00",
    "next_recertification": "2026-07-31",
}

_INVOICE_ERP: dict[str, Any] = {
    "name": "ERP accounts payable booking",
    "connects_to": "Municipal ERP finance module: purchase-order matching and booking screen",
    "method": "DocuRead connector: JSON export over SFTP every 10 minutes, ERP import job",
    "data_exchanged": "Extracted invoice fields, proposed cost centre and ledger account",
    "fallback": "Clerks key invoices by hand in the ERP",
    "owner": "Jörg Müller",
    "status": "live",
}

_INVOICE_ENTRIES: list[dict[str, Any]] = [
    {
        "key": "business-owner",
        "kind": "owner",
        "body": {
            "role": "business",
            "person": RUTH,
            "authority_scope": (
                "Head of Accounts Payable. Accountable for the outcome; since {{2026-07-01|month}} "
                "for the "
                "decommissioning and for the records until their retention ends."
            ),
            "start": "2024-01-15",
            "escalation_contact": OLIVIA,
        },
        "effective_from": "2024-02-01T08:00:00+01:00",
        "reason": "Business owner at go-live",
    },
    {
        "key": "former-tech-owner",
        "kind": "owner",
        "body": _INVOICE_FORMER_TECH_OWNER,
        "effective_from": "2024-02-01T08:00:00+01:00",
        "reason": "Technical owner at go-live",
        "updates": [
            {
                "body": {**_INVOICE_FORMER_TECH_OWNER, "end": "2025-06-30"},
                "effective_from": "2025-07-01T00:00:00+02:00",
                "reason": "Jörg Müller moved to the ERP upgrade programme",
            },
        ],
    },
    {
        "key": "tech-owner",
        "kind": "owner",
        "body": {
            "role": "technical",
            "person": SOREN,
            "authority_scope": (
                "Maintained the integration until decommissioning; now responsible for the "
                "archived logs and configuration and for deleting them on {{2028-07-01|iso}}."
            ),
            "start": "2025-07-01",
        },
        "effective_from": "2025-07-01T00:00:00+02:00",
        "reason": "Technical ownership handed over",
    },
    {
        "key": "ds-invoices",
        "kind": "data_source",
        "body": {
            "name": "Supplier invoices (accounts payable mailbox, PDF)",
            "steward": RUTH,
            "uses": ["input"],
            "origin": "Invoices e-mailed by suppliers to invoices@havenburg.example.org",
            "original_purpose": "Payment of suppliers and bookkeeping",
            "personal_data_categories": [
                "names and bank account numbers of sole traders",
                "names and e-mail addresses of supplier contacts",
            ],
            "lawful_basis": "GDPR Art 6(1)(b) and (c)",
            "quality_notes": (
                "About 4% of invoices were scanned paper with poor resolution; those went to "
                "manual keying."
            ),
            "retention": (
                "Invoices kept 7 years in the ERP (statutory bookkeeping); DocuRead deleted "
                "documents after 30 days"
            ),
            "recipients": ["DocuRead AI Ltd. (processor)"],
            "transfers": "None (DocuRead EU region, Frankfurt)",
        },
        "effective_from": "2024-02-01T08:00:00+01:00",
        "reason": "Input data",
    },
    {
        "key": "ds-coding-history",
        "kind": "data_source",
        "body": {
            "name": "Booked invoice lines {{2020-07-01|year}}-{{2023-07-01|year}} (ERP)",
            "steward": RUTH,
            "uses": ["training", "validation"],
            "origin": "ERP general ledger: invoice lines with cost centre and ledger account",
            "original_purpose": "Bookkeeping",
            "personal_data_categories": ["names of sole traders (supplier name)"],
            "preparation": "Supplier names replaced by supplier IDs; lines under EUR 5 removed",
            "known_bias": (
                "Cost centres reorganised in {{2022-07-01|year}}; older lines mapped to the new "
                "structure with "
                "a lookup table (about 2% unmappable and dropped)."
            ),
            "snapshot_hash": "be62e5e630904f28c561cd6dd87595cb92c65aa7c9bd8a2187d23422c2300763",
            "retention": "Training snapshot deleted with the decommissioning on {{2026-07-08|iso}}",
        },
        "effective_from": "2024-02-01T08:00:00+01:00",
        "reason": "Training data of the cost-centre classifier",
    },
    {
        "key": "grant-service",
        "kind": "access_grant",
        "body": _INVOICE_GRANT,
        "effective_from": "2024-01-29T09:00:00+01:00",
        "reason": "Service account for the mailbox connector",
        "updates": [
            {
                "body": {**_INVOICE_GRANT, "revoked_at": "2026-06-30T18:00:00+02:00"},
                "effective_from": "2026-06-30T18:00:00+02:00",
                "reason": "Service account disabled at decommissioning",
            },
        ],
        "retire": {
            "effective_from": "2026-07-08T12:00:00+02:00",
            "reason": "Service account deleted from the directory; the grant no longer exists",
        },
    },
    {
        "key": "int-erp",
        "kind": "integration",
        "body": _INVOICE_ERP,
        "effective_from": "2024-02-01T08:00:00+01:00",
        "reason": "ERP integration at go-live",
        "updates": [
            {
                "body": {**_INVOICE_ERP, "owner": "Søren Ødegaard"},
                "effective_from": "2025-07-01T00:00:00+02:00",
                "reason": "New technical owner",
            },
            {
                "body": {
                    **_INVOICE_ERP,
                    "owner": "Søren Ødegaard",
                    "fallback": "Not applicable: invoice capture now built into the ERP",
                    "status": "retired",
                },
                "effective_from": "2026-06-30T18:00:00+02:00",
                "reason": "Connector switched off at decommissioning",
            },
        ],
    },
    {
        "key": "cl-docuread-32",
        "kind": "change_log",
        "body": {
            "change_type": "model",
            "summary": "DocuRead Extract upgraded from 3.1 to 3.2 (better table extraction)",
            "from_version": "DocuRead Extract 3.1",
            "to_version": "DocuRead Extract 3.2",
            "rationale": "Multi-page invoices with line tables were often split wrongly",
            "test_evidence": "Parallel run on 500 invoices: field accuracy 97.8% (3.1: 96.2%)",
            "approver": "Ruth Achterberg",
            "deployed_at": "2025-05-12T07:00:00+02:00",
            "rollback_plan": "Vendor can pin the tenant to 3.1 for 60 days",
        },
        "effective_from": "2025-05-12T07:00:00+02:00",
        "reason": "Vendor model upgrade",
    },
    {
        "key": "cl-decommission",
        "kind": "change_log",
        "body": {
            "change_type": "config",
            "summary": (
                "System decommissioned: ERP connector and DocuRead tenant switched off, service "
                "account deleted, training snapshot deleted"
            ),
            "from_version": "DocuRead Extract 3.2 / classifier v1.4",
            "to_version": "decommissioned",
            "rationale": (
                "The upgraded ERP includes invoice capture; running both cost EUR 41,000 a year "
                "and gave two sources of truth for invoice data."
            ),
            "test_evidence": (
                "Checklist DC-2026-04 completed: last invoice processed {{2026-06-30|iso}} 16:52; "
                "DocuRead deletion certificate received {{2026-07-08|iso}}; decision logs exported "
                "read-only to the archive until {{2028-07-01|iso}}."
            ),
            "approver": "Ruth Achterberg",
            "deployed_at": "2026-06-30T18:00:00+02:00",
            "rollback_plan": (
                "None after {{2026-07-31|iso}}, when DocuRead deletes the tenant backup"
            ),
            "attachments": [
                {
                    "name": "decommissioning-checklist-DC-2026-04.pdf",
                    "uri": "https://dms.example.org/evidence/decommissioning-checklist-DC-2026-04.pdf",
                    "sha256": "f44931931c3a3622097357b781711d779b50308d9fca7f3e7199b1cfadc72e36",
                    "media_type": "application/pdf",
                },
            ],
        },
        "effective_from": "2026-07-08T12:00:00+02:00",
        "reason": "Decommissioning recorded",
    },
    {
        "key": "funding",
        "kind": "funding",
        "body": {
            "funder": "Finance Shared Service Centre, operating budget",
            "budget": "41000.00",
            "currency": "EUR",
            "covers": ["run", "decommission"],
            "period": "{{2026-05-01|year}} until decommissioning",
            "start": "2026-01-01",
            "end": "2026-09-30",
        },
        "effective_from": "2026-01-01T00:00:00+01:00",
        "reason": "Final year of running cost and decommissioning",
    },
]

# ============================================================================= examples

# Evidence documents received for a system (registry.documents): stand-ins whose text
# says what the real document is; ``valid_until`` dates move with the demo's dates.
_TRIAGE_DOCUMENTS: list[dict[str, Any]] = [
    {
        "name": "DPIA-2025-014-v2-benefits-triage.txt",
        "document_type": "dpia",
        "title": "DPIA 2025-014 v2: benefits application triage",
        "valid_until": "2027-08-31",
        "text": "Demo stand-in for the data protection impact assessment DPIA-2025-014 v2 "
        "of the benefits application triage model, signed off by the privacy officer.\n",
    },
    {
        "name": "validation-report-triage-v2.3.txt",
        "document_type": "test_report",
        "title": "Validation report, model v2.3",
        "text": "Demo stand-in for the validation report of model v2.3: recall 0.86 on "
        "the frozen validation set, subgroup error rates within the agreed bounds.\n",
    },
    {
        "name": "model-card-triage-v2.3.md",
        "document_type": "model_card",
        "title": "Model card, triage model v2.3",
        "valid_until": "2027-06-30",
        "text": "# Model card: benefits triage v2.3 (demo stand-in)\n\nIntended use: "
        "ordering the queue of benefit applications for manual review.\n",
    },
]
_CHATBOT_DOCUMENTS: list[dict[str, Any]] = [
    {
        "name": "bias-audit-chatbot-2025.txt",
        "document_type": "bias_assessment",
        "title": "Language bias audit of the pilot chatbot",
        "valid_until": "2026-06-30",
        "text": "Demo stand-in for the 2025 language bias audit of the residents' "
        "chatbot; to be repeated before any extension of the pilot.\n",
    },
]


EXAMPLES: list[dict] = [
    {
        "profile": _CHATBOT_PROFILE,
        "profile_effective_from": "2026-08-24T09:00:00+02:00",
        "profile_updates": [
            {
                "body": {
                    **_CHATBOT_PROFILE,
                    "deployment_context": (
                        "Pilot from {{2026-09-01|day}} to {{2027-02-28|day}} on the 'Waste & "
                        "recycling', 'Parking' and (since {{2026-10-12|day_month}}) 'Passports and "
                        "ID cards' "
                        "sections of the website (about 15% of web visits), in Dutch and "
                        "English. The widget says it is an AI assistant before the first "
                        "question (Art 50(1)). Handovers arrive in the agents' existing chat "
                        "queue; there is no link to the case management, permit or appointment "
                        "systems."
                    ),
                    "affected_persons": (
                        "Residents and visitors using the pilot sections of the website (about "
                        "6,500 chat sessions a month); the 12 Customer Contact Centre agents "
                        "who take over conversations."
                    ),
                    "register_updated_on": "2026-10-12",
                },
                "effective_from": "2026-10-12T08:00:00+02:00",
                "reason": "Pilot scope extended to passports and ID cards",
            },
        ],
        "entries": _CHATBOT_ENTRIES,
        "documents": _CHATBOT_DOCUMENTS,
    },
    {
        "profile": _TRIAGE_PROFILE,
        "profile_effective_from": "2025-03-03T09:00:00+01:00",
        "profile_updates": [
            {
                "body": _TRIAGE_PROFILE_PRODUCTION,
                "effective_from": "2025-09-01T08:00:00+02:00",
                "reason": "Go-live after the pilot evaluation (Board decision 2025-0812)",
            },
            {
                "body": _TRIAGE_PROFILE_V23,
                "effective_from": "2026-06-22T07:00:00+02:00",
                "reason": "Model v2.3 deployed",
            },
            {
                "body": {
                    **_TRIAGE_PROFILE_V23,
                    "eu_database_reference": "EUDB-HR-DPL-2026-004417 (demo)",
                    "register_updated_on": "2026-07-28",
                },
                "effective_from": "2026-07-28T12:00:00+02:00",
                "reason": "Registered in the EU database for high-risk systems (Art 49(3), 71)",
            },
        ],
        "entries": _TRIAGE_ENTRIES,
        "documents": _TRIAGE_DOCUMENTS,
    },
    {
        "profile": _INVOICE_PROFILE,
        "profile_effective_from": "2024-02-01T08:00:00+01:00",
        "profile_updates": [
            {
                "body": {
                    **_INVOICE_PROFILE,
                    "model": (
                        "DocuRead Extract 3.2; in-house cost-centre classifier (logistic "
                        "regression) v1.4"
                    ),
                },
                "effective_from": "2025-05-12T07:00:00+02:00",
                "reason": "Vendor model upgraded to 3.2",
            },
            {
                "body": {
                    **_INVOICE_PROFILE,
                    "stage": "retired",
                    "model": (
                        "DocuRead Extract 3.2; in-house cost-centre classifier (logistic "
                        "regression) v1.4"
                    ),
                    "deployment_context": (
                        "Decommissioned on {{2026-06-30|day}} and replaced by the invoice capture "
                        "built into the upgraded ERP (recorded separately). Decision logs and "
                        "the final configuration are kept read-only in the archive until "
                        "{{2028-07-01|day}}, then deleted."
                    ),
                    "register_updated_on": "2026-07-08",
                },
                "effective_from": "2026-07-08T12:00:00+02:00",
                "reason": "Retired: replaced by the ERP's own invoice capture",
            },
        ],
        "entries": _INVOICE_ENTRIES,
    },
]
