"""the readiness projection (each system's scorecard summary, rebuildable, not ledger);
the audit events' action and actor as indexed columns beside their bytes

Revision ID: 0018
Revises: 0013
Create Date: 2026-12-05 15:30:00
"""

import json

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def _events_filled() -> None:
    """Each event's action and actor from its bytes. audit_event is append-only: the
    triggers refusing UPDATE are lifted for this one statement's rows, as a table owner
    can, and put back as they were."""
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    if postgresql:
        op.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
    else:
        (trigger,) = bind.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"),
            {"n": "audit_event_no_update"},
        ).one()
        op.execute("DROP TRIGGER audit_event_no_update")
    events = sa.table(
        "audit_event",
        sa.column("seq", sa.BigInteger),
        sa.column("event", sa.LargeBinary),
        sa.column("action", sa.Text),
        sa.column("actor", sa.Text),
    )
    after = 0
    while True:
        rows = bind.execute(
            sa.select(events.c.seq, events.c.event)
            .where(events.c.seq > after)
            .order_by(events.c.seq)
            .limit(5000)
        ).all()
        if not rows:
            break
        values = []
        for seq, raw in rows:
            fields = json.loads(bytes(raw))
            action, actor = fields.get("action"), fields.get("actor")
            values.append(
                {
                    "s": seq,
                    "a": action if isinstance(action, str) else None,
                    "b": actor if isinstance(actor, str) else None,
                }
            )
        bind.execute(
            events.update()
            .where(events.c.seq == sa.bindparam("s"))
            .values(action=sa.bindparam("a"), actor=sa.bindparam("b")),
            values,
        )
        after = rows[-1][0]
    if postgresql:
        op.execute("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only")
    else:
        op.execute(trigger)


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("action", sa.Text(), nullable=True))
    op.add_column("audit_event", sa.Column("actor", sa.Text(), nullable=True))
    _events_filled()
    op.create_index("ix_audit_event_action_seq", "audit_event", ["action", "seq"])
    op.create_table(
        "readiness_projection",
        sa.Column("system_id", sa.Integer(), nullable=False),
        sa.Column("system_seq", sa.BigInteger(), nullable=False),
        sa.Column("evaluated_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stable_until", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("unmet", sa.Text(), nullable=False),
        sa.Column("due", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["ai_system.id"],
            name=op.f("fk_readiness_projection_system_id_ai_system"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("system_id", name=op.f("pk_readiness_projection")),
    )


def downgrade() -> None:
    op.drop_table("readiness_projection")
    op.drop_index("ix_audit_event_action_seq", table_name="audit_event")
    # SQLite (3.35 on) drops a column in place: the table, and its triggers, stay.
    op.execute("ALTER TABLE audit_event DROP COLUMN actor")
    op.execute("ALTER TABLE audit_event DROP COLUMN action")
