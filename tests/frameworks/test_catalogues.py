"""The catalogues as shipped: their identity, their counts, and a crosswalk whose every
reference resolves to an item."""

from __future__ import annotations

import json
import re

import pytest

from registry.errors import NotFound
from registry.frameworks import catalogue as frameworks
from registry.readiness.criteria import AREAS
from registry.records.kinds import KINDS, READINESS_AREAS


def test_every_catalogue_names_its_id_title_version_source_and_licence():
    assert list(frameworks.catalogues()) == ["eu-ai-act", "iso-42001", "nist-ai-rmf"]
    for found in frameworks.catalogues().values():
        assert all((found.id, found.title, found.version, found.source, found.licence))
    eu = frameworks.catalogue("eu-ai-act")
    assert "EUR-Lex" in eu.licence and "source is acknowledged" in eu.licence
    assert "none of its text is reproduced" in frameworks.catalogue("iso-42001").licence
    assert "public domain" in frameworks.catalogue("nist-ai-rmf").licence


def test_iso_42001_annex_a_has_its_38_controls():
    iso = frameworks.catalogue("iso-42001")
    controls = [i.id for i in iso.items if i.cls == "control"]
    assert len(controls) == 38 and controls[0] == "A.2.2" and controls[-1] == "A.10.4"
    assert all(re.fullmatch(r"A\.\d+(\.\d+)+", c) for c in controls)
    # Short labels only: never a sentence of the standard.
    assert all(len(i.title) <= 60 and not i.summary for i in iso.items)


def test_nist_ai_rmf_has_4_functions_19_categories_72_subcategories():
    nist = frameworks.catalogue("nist-ai-rmf")
    count = {c: sum(i.cls == c for i in nist.items) for c in nist.item_classes}
    assert count == {"function": 4, "category": 19, "subcategory": 72}
    assert [i.id for i in nist.children(None)] == ["GOVERN", "MAP", "MEASURE", "MANAGE"]
    assert len(nist.children("MEASURE-2")) == 13
    assert len(nist.leaves()) == 72


def test_eu_ai_act_obligations_by_role_and_tier_with_annex_lists():
    eu = frameworks.catalogue("eu-ai-act")
    obligations = [i for i in eu.items if i.cls == "obligation"]
    refs = {i.ref.split(",")[0] for i in obligations}
    for article in [5, *range(9, 28), 50, 53, 54, 55, 72, 73]:
        assert any(r == f"Art {article}" or r.startswith(f"Art {article}(") for r in refs), article
    assert all(i.roles and i.tiers and i.summary for i in obligations)
    assert [i.ref for i in eu.children("art-11")] == [f"Annex IV {n}" for n in range(1, 10)]
    assert len([i for i in eu.children("art-49") if "Annex VIII A" in i.ref]) == 13
    deployer_high = {i.id for i in obligations if "deployer" in i.roles and "high" in i.tiers}
    assert {"art-26", "art-27", "art-4"} <= deployer_high and "art-9" not in deployer_high


def test_every_crosswalk_reference_resolves_and_covers_every_criterion_and_kind():
    walk = frameworks.crosswalk()  # raises on a reference to no item
    assert set(walk.areas) == set(READINESS_AREAS)
    assert set(walk.criteria) == {c.key for a in AREAS for c in a.criteria}
    assert set(walk.kinds) == set(KINDS)
    for items in [*walk.criteria.values(), *walk.kinds.values()]:
        for item in items:
            assert frameworks.catalogue(item.catalogue).item(item.id) is item
    # Each criterion evidences something in ISO 42001 and in the NIST AI RMF.
    for key, items in walk.criteria.items():
        assert {i.catalogue for i in items} >= {"iso-42001", "nist-ai-rmf"}, key
    # The scorecard's labels come from the data.
    assert AREAS[0].frameworks == walk.areas["business_ownership"]


def test_a_crosswalk_reference_to_no_item_fails_loading(tmp_path):
    for name in (*frameworks.FILES, "crosswalk.json"):
        (tmp_path / name).write_bytes((frameworks.FOLDER / name).read_bytes())
    frameworks.load(tmp_path)  # as shipped
    data = json.loads((tmp_path / "crosswalk.json").read_text())
    data["kinds"]["owner"]["iso-42001"].append("A.99.9")
    (tmp_path / "crosswalk.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="kind owner: iso-42001 has no item 'A.99.9'"):
        frameworks.load(tmp_path)


def test_unknown_framework_or_item_is_not_found():
    with pytest.raises(NotFound):
        frameworks.catalogue("sox")
    with pytest.raises(NotFound):
        frameworks.catalogue("iso-42001").item("A.1.1")
