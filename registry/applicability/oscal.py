"""OSCAL (NIST's Open Security Controls Assessment Language, JSON, version 1.1) for the
tools auditors run: each catalogue as an OSCAL catalog, and a system's coverage as of an
instant as OSCAL assessment results, one result per framework with a finding per item,
the observations citing the entry versions that evidence it and the ledger events
that recorded them (back-matter resources with their SHA-256 and API links).

Documents are deterministic: UUIDs are name-based (UUID 5) from what they identify, and
the times are the catalogue release and the assessed instant.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session

from registry.applicability.coverage import MET, NOT_APPLICABLE, PARTIAL, SystemCoverage, assess
from registry.frameworks.catalogue import Catalogue, Item, catalogue, catalogues
from registry.records import reads
from registry.records.models import AISystem

OSCAL_VERSION = "1.1.2"
NAMESPACE = uuid.UUID("6f0f6b8e-6a39-5a55-9a43-4c1b2f1d9e21")  # the registry's OSCAL names
PROPS_NS = "urn:ai-governance-registry:oscal"
# When the catalogue files were last changed (their metadata's last-modified).
CATALOGUES_MODIFIED = "2026-12-05T00:00:00+00:00"
IMPLEMENTATION = {MET: "implemented", PARTIAL: "partial", NOT_APPLICABLE: "not-applicable"}


def _uuid(*parts: Any) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def _control(found: Catalogue, item: Item) -> dict[str, Any]:
    control: dict[str, Any] = {
        "id": item.id,
        "class": item.cls,
        "title": item.title,
        "props": [{"name": "label", "value": item.ref}],
    }
    for name, values in (("role", item.roles), ("risk-tier", item.tiers)):
        control["props"] += [{"name": name, "ns": PROPS_NS, "value": v} for v in values]
    if item.summary:
        control["parts"] = [{"id": f"{item.id}_smt", "name": "statement", "prose": item.summary}]
    children = found.children(item.id)
    if children:
        control["controls"] = [_control(found, c) for c in children]
    return control


def oscal_catalog(catalogue_id: str) -> dict[str, Any]:
    """The catalogue as an OSCAL catalog: top-level items without a statement of their
    own (NIST functions and categories, ISO objectives, the AI Act's groups) as groups,
    the rest as controls nested under their parents."""
    found = catalogue(catalogue_id)
    metadata = {
        "title": found.title,
        "last-modified": CATALOGUES_MODIFIED,
        "version": found.version,
        "oscal-version": OSCAL_VERSION,
        "remarks": found.licence,
        "links": [{"href": found.source, "rel": "reference"}],
    }
    groups: list[dict[str, Any]] = []
    if catalogue_id == "eu-ai-act":
        by_group: dict[str, list[Item]] = {}
        for item in found.children(None):
            by_group.setdefault(item.group or "other", []).append(item)
        groups = [
            {
                "id": f"group-{name}",
                "title": name.replace("-", " ").capitalize(),
                "controls": [_control(found, i) for i in items],
            }
            for name, items in by_group.items()
        ]
    else:
        groups = [_group(found, top) for top in found.children(None)]
    return {
        "catalog": {
            "uuid": _uuid("catalog", found.id, found.version),
            "metadata": metadata,
            "groups": groups,
        }
    }


def _group(found: Catalogue, item: Item) -> dict[str, Any]:
    """A NIST function (with its categories as groups) or an ISO objective."""
    group: dict[str, Any] = {"id": item.id, "class": item.cls, "title": item.title}
    if item.summary:
        group["parts"] = [{"id": f"{item.id}_obj", "name": "overview", "prose": item.summary}]
    children = found.children(item.id)
    leaves = [c for c in children if not found.children(c.id)]
    nested = [c for c in children if found.children(c.id)]
    if nested:
        group["groups"] = [_group(found, c) for c in nested]
    if leaves:
        group["controls"] = [_control(found, c) for c in leaves]
    return group


def assessment_results(covered: SystemCoverage, seqs: dict[tuple[int, int], int]) -> dict[str, Any]:
    """A system's coverage as OSCAL assessment results. ``seqs``: the ledger event of
    each evidencing entry version, by (entry id, version)."""
    at = covered.at.astimezone(dt.UTC).isoformat()
    resources: dict[str, dict[str, Any]] = {}
    results = []
    for framework in covered.frameworks:
        found = catalogue(framework)
        findings, observations = [], []
        for row in covered.of(framework):
            evidence = row.to_dict()["evidence"]
            observation_uuid = _uuid("observation", covered.reference, at, framework, row.item.id)
            if evidence:
                cited = []
                for ref in evidence:
                    key = _resource(resources, covered.reference, ref, seqs)
                    cited.append(
                        {
                            "href": f"#{key}",
                            "description": f"{ref['kind']} entry {ref['entry_id']} "
                            f"version {ref['version']}",
                        }
                    )
                observations.append(
                    {
                        "uuid": observation_uuid,
                        "title": f"Evidence for {row.item.ref}",
                        "description": "The entry versions in force at the instant that the "
                        "readiness criteria and entry kinds of the crosswalk read.",
                        "methods": ["EXAMINE"],
                        "collected": at,
                        "relevant-evidence": cited,
                    }
                )
            target: dict[str, Any] = {
                "type": "objective-id",
                "target-id": row.item.id,
                "title": f"{row.item.ref} {row.item.title}",
                "status": {
                    "state": "satisfied"
                    if row.status in (MET, NOT_APPLICABLE)
                    else "not-satisfied",
                    "reason": row.status.replace("_", "-"),
                },
            }
            if row.status in IMPLEMENTATION:
                target["implementation-status"] = {"state": IMPLEMENTATION[row.status]}
            justification = (
                row.decision.body["justification"] if row.decision else row.proposal.reason
            )
            finding: dict[str, Any] = {
                "uuid": _uuid("finding", covered.reference, at, framework, row.item.id),
                "title": f"{row.item.ref}: {row.status.replace('_', ' ')}",
                "description": f"Applies: {'yes' if row.applicable else 'no'} "
                f"({'decided' if row.decision else 'proposed'}): {justification}",
                "target": target,
            }
            if evidence:
                finding["related-observations"] = [{"observation-uuid": observation_uuid}]
            findings.append(finding)
        applicable = [r.item.id for r in covered.of(framework) if r.applicable]
        selection: dict[str, Any] = (
            {"include-controls": [{"control-id": i} for i in applicable]}
            if applicable
            else {"description": "No item applies."}
        )
        result: dict[str, Any] = {
            "uuid": _uuid("result", covered.reference, at, framework),
            "title": f"{found.title}: coverage of {covered.reference}",
            "description": "Each item met, partial, missing or not applicable, from the "
            "registry's records as of the instant.",
            "start": at,
            "reviewed-controls": {"control-selections": [selection]},
            "findings": findings,
        }
        if observations:
            result["observations"] = observations
        results.append(result)
    document: dict[str, Any] = {
        "uuid": _uuid("assessment-results", covered.reference, at),
        "metadata": {
            "title": f"Framework coverage of {covered.reference} as of {at}",
            "last-modified": at,
            "version": at,
            "oscal-version": OSCAL_VERSION,
        },
        "import-ap": {"href": f"#{_uuid('assessment-method')}"},
        "results": results,
        "back-matter": {
            "resources": [
                {
                    "uuid": _uuid("assessment-method"),
                    "title": "The registry's readiness criteria and framework crosswalk",
                    "description": "How items are assessed: the readiness criteria's "
                    "findings and the entries in force of the kinds the crosswalk names.",
                },
                *resources.values(),
            ]
        },
    }
    return {"assessment-results": document}


def _resource(
    resources: dict[str, dict[str, Any]],
    reference: str,
    ref: dict[str, Any],
    seqs: dict[tuple[int, int], int],
) -> str:
    key = _uuid("entry-version", reference, ref["entry_id"], ref["version"], ref["hash"])
    if key not in resources:
        seq = seqs.get((ref["entry_id"], ref["version"]))
        links = [
            {
                "href": f"/api/v1/entries/{ref['entry_id']}/versions/{ref['version']}",
                "media-type": "application/json",
                "hashes": [{"algorithm": "SHA-256", "value": ref["hash"]}],
            }
        ]
        if seq is not None:
            links.append({"href": f"/api/v1/ledger/events/{seq}", "media-type": "application/json"})
        resources[key] = {
            "uuid": key,
            "title": f"{ref['kind']} entry {ref['entry_id']} version {ref['version']}",
            "description": f"Body SHA-256 {ref['hash']}"
            + (f"; recorded by ledger event {seq}" if seq is not None else ""),
            "rlinks": links,
        }
    return key


def system_assessment_results(
    session: Session, system: AISystem | str, at: dt.datetime
) -> dict[str, Any]:
    """A system's assessment results as of the aware instant ``at``."""
    return results_of(session, assess(session, system, at))


def results_of(session: Session, covered: SystemCoverage) -> dict[str, Any]:
    """The assessment results of a coverage already assessed (an evidence pack's)."""
    pairs = {(r.entry_id, r.version) for row in covered.items for r in row.evidence}
    return assessment_results(covered, reads.audit_seqs(session, pairs))


def all_catalogs() -> dict[str, dict[str, Any]]:
    return {c: oscal_catalog(c) for c in catalogues()}
