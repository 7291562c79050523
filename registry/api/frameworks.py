"""The framework catalogues over REST: each catalogue's identity and licence, its items,
and what in the registry evidences an item (readiness criteria and entry kinds)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from registry.accounts.permissions import require
from registry.api.auth import current_actor
from registry.api.blueprint import READ, Blueprint
from registry.extensions import db_session
from registry.frameworks.catalogue import Item, catalogue, catalogues, crosswalk

bp = Blueprint(
    "api_frameworks",
    __name__,
    tag="Frameworks",
    url_prefix="/api/v1/frameworks",
    description="Framework catalogues (EU AI Act, ISO/IEC 42001 Annex A, NIST AI RMF) as "
    "data, and the readiness criteria and entry kinds that evidence their items.",
)


class FrameworkOut(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    version = fields.String(required=True)
    source = fields.String(required=True, metadata={"description": "Where the text is."})
    licence = fields.String(required=True, metadata={"description": "Terms and attribution."})
    item_classes = fields.List(fields.String(), required=True)
    counts = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        required=True,
        metadata={"description": "How many items of each class."},
    )


class FrameworkList(Schema):
    items = fields.List(fields.Nested(FrameworkOut), required=True)


class ItemOut(Schema):
    catalogue = fields.String(required=True)
    id = fields.String(required=True)
    ref = fields.String(required=True, metadata={"description": "As the source cites it."})
    item_class = fields.String(required=True, data_key="class")
    title = fields.String(required=True)
    summary = fields.String(required=True)
    parent = fields.String(required=True, allow_none=True)
    group = fields.String(required=True, allow_none=True)
    roles = fields.List(fields.String(), required=True)
    tiers = fields.List(fields.String(), required=True)
    criteria = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "The readiness criteria whose findings evidence the item."},
    )
    kinds = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "The entry kinds whose entries evidence the item."},
    )


class FrameworkDetail(FrameworkOut):
    items = fields.List(fields.Nested(ItemOut), required=True)


class ItemDetail(ItemOut):
    children = fields.List(fields.Nested(ItemOut), required=True)


def item_out(item: Item) -> dict[str, Any]:
    walk = crosswalk()
    return {**item.to_dict(), "criteria": walk.criteria_of(item), "kinds": walk.kinds_of(item)}


def _reader() -> None:
    require(db_session(), current_actor(), "read")


@bp.route("", methods=["GET"], operation_id="listFrameworks")
@bp.response(200, FrameworkList)
@bp.problems(*READ)
def index() -> Any:
    """List frameworks

    The catalogues the registry ships, each with its version, source and licence.
    """
    _reader()
    return {"items": [c.summary() for c in catalogues().values()]}


@bp.route("/<framework>", methods=["GET"], operation_id="getFramework")
@bp.response(200, FrameworkDetail)
@bp.problems(*READ, 404)
def framework(framework: str) -> Any:
    """One framework

    The catalogue and every item in it, each with what evidences it.
    """
    _reader()
    found = catalogue(framework)
    return {**found.summary(), "items": [item_out(i) for i in found.items]}


@bp.route("/<framework>/items/<item>", methods=["GET"], operation_id="getFrameworkItem")
@bp.response(200, ItemDetail)
@bp.problems(*READ, 404)
def framework_item(framework: str, item: str) -> Any:
    """One item of a framework

    An obligation, control or subcategory: its summary, the items under it, and the
    readiness criteria and entry kinds that evidence it.
    """
    _reader()
    found = catalogue(framework)
    chosen = found.item(item)
    return {**item_out(chosen), "children": [item_out(i) for i in found.children(chosen.id)]}
