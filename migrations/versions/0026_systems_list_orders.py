"""the systems list's orders read from indexes: references and the names as compared
are compared by code point on PostgreSQL (collation "C", as the list orders them and
Python compares text); the search index's names, its orders by stage and risk tier,
its status by name and what counts read, the readiness projection's last events and evaluation instants
indexed

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 01:30:00
"""

import sqlalchemy as sa
from alembic import op

from registry.records.search_index import ORDER_INDEXES

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# (table, column, type): compared by code point on PostgreSQL (their indexes follow).
BYTEWISE = (
    ("ai_system", "reference", "VARCHAR(100)"),
    ("system_search", "name_key", "TEXT"),
    ("readiness_projection", "reference", "TEXT"),
)
INDEXES = (
    ("ix_system_search_name_key", "system_search", ["name_key"]),
    ("ix_system_search_stage", "system_search", ["stage", "retired"]),
    ("ix_system_search_retired", "system_search", ["retired", "name_key"]),
    ("ix_readiness_projection_system_seq", "readiness_projection", ["system_seq"]),
    ("ix_readiness_projection_evaluated_at", "readiness_projection", ["evaluated_at"]),
)


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, type_ in BYTEWISE:
        op.execute(f'ALTER TABLE {table} ALTER COLUMN {column} TYPE {type_} COLLATE "{collation}"')


# The orders by stage and risk tier, then by name: made from the expressions the
# queries order by (``records.search_index.ORDER_INDEXES``).
ORDERS = tuple(ORDER_INDEXES.items())


def upgrade() -> None:
    _collate("C")
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    dialect = op.get_bind().dialect
    for name, order in ORDERS:
        expression = order.compile(dialect=dialect, compile_kwargs={"include_table": False})
        op.create_index(name, "system_search", [sa.text(f"({expression})"), "name_key"])


def downgrade() -> None:
    for name, _order in ORDERS:
        op.drop_index(name, table_name="system_search")
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
    _collate("default")
