"""The framework catalogues and the crosswalk, read from the versioned data files in
``catalogues/`` (the one place they are written): the EU AI Act's obligations by role
and tier with Annex IV's points and Annex VIII's fields, ISO/IEC 42001:2023 Annex A's
control ids, NIST AI RMF 1.0's functions, categories and subcategories, and which of
their items each readiness criterion and entry kind evidences.

Every file names its id, title, version, source and licence. Loading checks the files
(unique ids, parents that exist, crosswalk references that resolve) and raises
``ValueError`` on the first fault: a broken file never reaches a page.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.errors import NotFound

FOLDER = Path(__file__).resolve().parent / "catalogues"
FILES = ("eu_ai_act.json", "iso_42001.json", "nist_ai_rmf.json")
EU_AI_ACT, ISO_42001, NIST_AI_RMF = "eu-ai-act", "iso-42001", "nist-ai-rmf"
# The readiness areas' labels are keyed as the scorecard has always shown them.
AREA_LABEL_KEYS = {EU_AI_ACT: "eu_ai_act", ISO_42001: "iso_42001", NIST_AI_RMF: "nist_ai_rmf"}


@dataclass(frozen=True)
class Item:
    """One item of a catalogue: an obligation, a control, a subcategory, a list point."""

    catalogue: str
    id: str
    ref: str  # as the source cites it: "Art 26", "A.6.2.5", "GOVERN 1.1"
    cls: str  # one of the catalogue's item classes
    title: str
    summary: str = ""
    parent: str | None = None
    group: str | None = None
    roles: tuple[str, ...] = ()
    tiers: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """The item's id across catalogues, ``catalogue:item``."""
        return f"{self.catalogue}:{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "catalogue": self.catalogue,
            "id": self.id,
            "ref": self.ref,
            "class": self.cls,
            "title": self.title,
            "summary": self.summary,
            "parent": self.parent,
            "group": self.group,
            "roles": list(self.roles),
            "tiers": list(self.tiers),
        }


@dataclass(frozen=True)
class Catalogue:
    id: str
    title: str
    version: str
    source: str
    licence: str
    item_classes: tuple[str, ...]
    items: tuple[Item, ...]
    by_id: dict[str, Item] = field(repr=False, compare=False, default_factory=dict)

    def item(self, item_id: str) -> Item:
        try:
            return self.by_id[item_id]
        except KeyError:
            raise NotFound(f"{self.title} has no item {item_id!r}.") from None

    def children(self, item_id: str | None) -> list[Item]:
        return [i for i in self.items if i.parent == item_id]

    def leaves(self) -> list[Item]:
        """The items a system applies and is assessed against: those no other item
        is a part of (subcategories, controls, obligations and list points)."""
        parents = {i.parent for i in self.items}
        return [i for i in self.items if i.id not in parents or i.cls == "obligation"]

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for i in self.items:
            counts[i.cls] = counts.get(i.cls, 0) + 1
        return {
            "id": self.id,
            "title": self.title,
            "version": self.version,
            "source": self.source,
            "licence": self.licence,
            "item_classes": list(self.item_classes),
            "counts": counts,
        }


@dataclass(frozen=True)
class Crosswalk:
    """Which catalogue items each readiness criterion and entry kind evidences, and the
    readiness areas' labels per framework."""

    version: str
    areas: dict[str, dict[str, str]]
    criteria: dict[str, tuple[Item, ...]]
    kinds: dict[str, tuple[Item, ...]]
    # The same, from the item's side (item key -> criteria, kinds), in the files' order.
    by_item_criteria: dict[str, list[str]] = field(default_factory=dict, compare=False)
    by_item_kinds: dict[str, list[str]] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for source, target in (
            (self.criteria, self.by_item_criteria),
            (self.kinds, self.by_item_kinds),
        ):
            for key, items in source.items():
                for item in dict.fromkeys(items):
                    target.setdefault(item.key, []).append(key)

    def criteria_of(self, item: Item) -> list[str]:
        return self.by_item_criteria.get(item.key, [])

    def kinds_of(self, item: Item) -> list[str]:
        return self.by_item_kinds.get(item.key, [])


def _load(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data = json.load(f)
    missing = {"id", "title", "version", "source", "licence"} - data.keys()
    if missing:
        raise ValueError(f"{path.name}: no {', '.join(sorted(missing))}")
    return data


def _catalogue(path: Path) -> Catalogue:
    data = _load(path)
    classes = tuple(data["item_classes"])
    items = tuple(
        Item(
            catalogue=data["id"],
            id=raw["id"],
            ref=raw["ref"],
            cls=raw["class"],
            title=raw["title"],
            summary=raw.get("summary", ""),
            parent=raw.get("parent"),
            group=raw.get("group"),
            roles=tuple(raw.get("roles", ())),
            tiers=tuple(raw.get("tiers", ())),
        )
        for raw in data["items"]
    )
    by_id: dict[str, Item] = {}
    for item in items:
        if item.id in by_id:
            raise ValueError(f"{path.name}: item {item.id!r} twice")
        if item.cls not in classes:
            raise ValueError(f"{path.name}: item {item.id!r} of unknown class {item.cls!r}")
        by_id[item.id] = item
    for item in items:
        if item.parent is not None and item.parent not in by_id:
            raise ValueError(f"{path.name}: {item.id!r}'s parent {item.parent!r} is no item")
    return Catalogue(
        data["id"],
        data["title"],
        data["version"],
        data["source"],
        data["licence"],
        classes,
        items,
        by_id,
    )


def _resolved(
    found: dict[str, Catalogue], where: str, refs: dict[str, list[str]]
) -> tuple[Item, ...]:
    items = []
    for catalogue_id, ids in refs.items():
        if catalogue_id not in found:
            raise ValueError(f"crosswalk {where}: no catalogue {catalogue_id!r}")
        for item_id in ids:
            item = found[catalogue_id].by_id.get(item_id)
            if item is None:
                raise ValueError(f"crosswalk {where}: {catalogue_id} has no item {item_id!r}")
            items.append(item)
    return tuple(items)


def load(folder: Path) -> tuple[dict[str, Catalogue], Crosswalk]:
    """The catalogues of ``folder`` by id (in the order of ``FILES``) and its crosswalk,
    checked."""
    found = {c.id: c for c in (_catalogue(folder / name) for name in FILES)}
    data = _load(folder / "crosswalk.json")
    walk = Crosswalk(
        version=data["version"],
        areas={k: dict(v) for k, v in data["areas"].items()},
        criteria={k: _resolved(found, f"criterion {k}", v) for k, v in data["criteria"].items()},
        kinds={k: _resolved(found, f"kind {k}", v) for k, v in data["kinds"].items()},
    )
    return found, walk


@functools.cache
def _shipped() -> tuple[dict[str, Catalogue], Crosswalk]:
    return load(FOLDER)


def catalogues() -> dict[str, Catalogue]:
    """Every catalogue the registry ships, by id."""
    return _shipped()[0]


def crosswalk() -> Crosswalk:
    return _shipped()[1]


def catalogue(catalogue_id: str) -> Catalogue:
    try:
        return catalogues()[catalogue_id]
    except KeyError:
        raise NotFound(f"There is no framework {catalogue_id!r}.") from None


def area_labels(area: str) -> dict[str, str]:
    """The framework references of a readiness area, as the scorecard shows them."""
    try:
        return crosswalk().areas[area]
    except KeyError:
        raise ValueError(f"crosswalk: no labels for the readiness area {area!r}") from None
