"""The Statement of Applicability, the coverage and OSCAL in a system's evidence pack:
its JSON files, covered by the manifest and verified, and its PDF chapter, read back."""

from __future__ import annotations

import io
import json

import pypdf
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.catalog import Catalog

from registry.applicability import coverage, oscal
from registry.evidence import verifier
from registry.records import writes
from tests.evidence.conftest import do_export, members
from tests.frameworks import nist_oscal
from tests.records.samples import SAMPLES


def test_a_decision_is_in_the_packs_statement_of_applicability_and_pdf(app, session, officer):
    system, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "role": "provider"})
    writes.create_entry(session, officer, system, "owner", SAMPLES["owner"])
    decision = writes.create_entry(
        session, officer, system, "applicability", SAMPLES["applicability"]
    )
    session.commit()
    done = do_export(app, session, "sys-1")
    files = members(done.path)
    manifest = json.loads(files["manifest.json"])
    for name in ("coverage.json", "statement-of-applicability.json"):
        assert f"systems/sys-1/{name}" in manifest["files"]
    covered = json.loads(files["systems/sys-1/coverage.json"])
    assert covered == json.loads(
        json.dumps(coverage.assess(session, "sys-1", done.as_of).to_dict())
    )
    statements = json.loads(files["systems/sys-1/statement-of-applicability.json"])
    line = next(r for r in statements["iso-42001"]["items"] if r["item"] == "A.10.4")
    assert not line["applicable"] and line["decided"]
    assert line["implemented_by"] == [
        {
            "entry_id": decision.entry_id,
            "kind": "applicability",
            "version": 1,
            "hash": decision.body_hash,
        }
    ]
    assert len(statements["nist-ai-rmf"]["items"]) == 72
    verifier.verify(str(done.path))  # the new files match the manifest
    # oscal/: the catalogs and the system's assessment results, in the manifest.
    results = json.loads(files["oscal/assessment-results.json"])
    nist_oscal.validate(results)
    AssessmentResults.model_validate(results["assessment-results"])
    assert results == json.loads(
        json.dumps(oscal.system_assessment_results(session, "sys-1", done.as_of))
    )
    for framework in ("eu-ai-act", "iso-42001", "nist-ai-rmf"):
        name = f"oscal/catalogs/{framework}.json"
        assert name in manifest["files"]
        nist_oscal.validate(json.loads(files[name]))
        Catalog.model_validate(json.loads(files[name])["catalog"])

    reader = pypdf.PdfReader(io.BytesIO(files["evidence.pdf"]))
    text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
    assert "Statement of Applicability and coverage" in text
    assert "ISO/IEC 42001:2023 Annex A" in text
    assert "it has no customers" in text  # the decision's justification
    assert "A.10.4 Customers" in text and "no (decided)" in text
