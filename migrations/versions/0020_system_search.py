"""the systems' search index (rebuildable, not ledger): per system its searchable text
and the systems list's sort keys; PostgreSQL's tsvector with a GIN index, SQLite's FTS5
table kept by triggers; built here for the systems already recorded

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 19:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.orm import Session

from registry.records.search_index import rebuild

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE system_search_fts USING fts5(document, content='system_search', "
    "content_rowid='system_id', tokenize='unicode61 remove_diacritics 0')",
    "CREATE TRIGGER system_search_fts_insert AFTER INSERT ON system_search BEGIN "
    "INSERT INTO system_search_fts(rowid, document) VALUES (new.system_id, new.document); "
    "END",
    "CREATE TRIGGER system_search_fts_delete AFTER DELETE ON system_search BEGIN "
    "INSERT INTO system_search_fts(system_search_fts, rowid, document) "
    "VALUES ('delete', old.system_id, old.document); END",
    "CREATE TRIGGER system_search_fts_update AFTER UPDATE ON system_search BEGIN "
    "INSERT INTO system_search_fts(system_search_fts, rowid, document) "
    "VALUES ('delete', old.system_id, old.document); "
    "INSERT INTO system_search_fts(rowid, document) VALUES (new.system_id, new.document); "
    "END",
]


def upgrade() -> None:
    op.create_table(
        "system_search",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("stage", sa.Text(), nullable=False),
        sa.Column("risk_tier", sa.Text(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["ai_system.id"],
            name=op.f("fk_system_search_system_id_ai_system"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("system_id", name=op.f("pk_system_search")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE system_search ADD COLUMN terms tsvector "
            "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, document)) STORED"
        )
        op.execute("CREATE INDEX ix_system_search_terms ON system_search USING gin (terms)")
    else:
        for statement in SQLITE_FTS:
            op.execute(statement)
    session = Session(bind=bind)
    rebuild(session)
    session.flush()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER system_search_fts_{trigger}")
        op.execute("DROP TABLE system_search_fts")
    op.drop_table("system_search")
