"""evidence documents: what was received for each system, kept in the blob store

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-05 12:30:00
"""

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("document_type", sa.String(length=32), nullable=False),
        sa.Column("received_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("withheld", sa.Boolean(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_by", sa.String(length=320), nullable=False),
        sa.Column("receive_seq", sa.BigInteger(), nullable=False),
        sa.Column("collected_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["ai_system.id"],
            name=op.f("fk_document_system_id_ai_system"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["user.id"],
            name=op.f("fk_document_uploaded_by_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["receive_seq"],
            ["audit_event.seq"],
            name=op.f("fk_document_receive_seq_audit_event"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_document")),
        sa.UniqueConstraint("receive_seq", name=op.f("uq_document_receive_seq")),
        sa.UniqueConstraint("system_id", "sha256", name=op.f("uq_document_system_id_sha256")),
    )
    op.create_index("ix_document_sha256", "document", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_document_sha256", table_name="document")
    op.drop_table("document")
