"""registry core: systems, versioned entries, accounts, audit ledger

Revision ID: 0001
Revises:
Create Date: 2026-11-26 00:38:52.430323
"""

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ai_system",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("created_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_system")),
        sa.UniqueConstraint("reference", name=op.f("uq_ai_system_reference")),
    )
    op.create_table(
        "audit_event",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("event", sa.LargeBinary(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("event_hash", sa.String(length=64), nullable=False),
        sa.Column("leaf_hash", sa.String(length=64), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("event_hash", name=op.f("uq_audit_event_event_hash")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_event_prev_hash")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_event_system_id"), ["system_id"], unique=False)

    op.create_table(
        "checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("chain_head", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkpoint")),
        sa.UniqueConstraint("tree_size", name=op.f("uq_checkpoint_tree_size")),
    )
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("email", name=op.f("uq_user_email")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.String(length=64), nullable=False),
        sa.Column("created_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", registry.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_api_token_user_id_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("head_number", sa.Integer(), nullable=False),
        sa.Column("retired", sa.Boolean(), nullable=False),
        sa.Column("created_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["ai_system.id"],
            name=op.f("fk_entry_system_id_ai_system"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry")),
    )
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.create_index("ix_entry_system_id_kind", ["system_id", "kind"], unique=False)
        batch_op.create_index(
            "uq_entry_one_profile",
            ["system_id"],
            unique=True,
            sqlite_where=sa.text("kind = 'profile'"),
            postgresql_where=sa.text("kind = 'profile'"),
        )

    op.create_table(
        "user_role",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.CheckConstraint(
            "role IN ('admin', 'compliance_officer', 'technical_owner', 'auditor')",
            name=op.f("ck_user_role_role_known"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_user_role_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_role")),
    )
    op.create_table(
        "entry_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("effective_from", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("tombstone", sa.Boolean(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["audit_seq"],
            ["audit_event.seq"],
            name=op.f("fk_entry_version_audit_seq_audit_event"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user.id"],
            name=op.f("fk_entry_version_author_id_user"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["entry.id"],
            name=op.f("fk_entry_version_entry_id_entry"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_version")),
        sa.UniqueConstraint("audit_seq", name=op.f("uq_entry_version_audit_seq")),
        sa.UniqueConstraint("entry_id", "number", name=op.f("uq_entry_version_entry_id_number")),
    )
    with op.batch_alter_table("entry_version", schema=None) as batch_op:
        batch_op.create_index(
            "ix_entry_version_entry_id_recorded_at", ["entry_id", "recorded_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("entry_version", schema=None) as batch_op:
        batch_op.drop_index("ix_entry_version_entry_id_recorded_at")

    op.drop_table("entry_version")
    op.drop_table("user_role")
    with op.batch_alter_table("entry", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_entry_one_profile",
            sqlite_where=sa.text("kind = 'profile'"),
            postgresql_where=sa.text("kind = 'profile'"),
        )
        batch_op.drop_index("ix_entry_system_id_kind")

    op.drop_table("entry")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_token_user_id"))

    op.drop_table("api_token")
    op.drop_table("user")
    op.drop_table("checkpoint")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_event_system_id"))

    op.drop_table("audit_event")
    op.drop_table("ai_system")
