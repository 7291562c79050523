"""owners who are not users: reminders to an owner's address, and the preference an
address sets through its unsubscribe link

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 19:15:00
"""

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_address_preference",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("changed_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "mode IN ('email', 'none')",
            name=op.f("ck_notification_address_preference_mode_known"),
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_notification_address_preference")),
    )
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address", sa.String(length=320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notification_outbox", schema=None) as batch_op:
        batch_op.drop_column("address")
    op.drop_table("notification_address_preference")
