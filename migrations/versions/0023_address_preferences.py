"""owners who are not users choose per kind of reminder, as users do: e-mail at once,
a daily digest or nothing (the address's preference gains the kind)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 22:15:00
"""

import sqlalchemy as sa
from alembic import op

import registry.db

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

TABLE = "notification_address_preference"
# The kinds of due item when this revision was written: an address that had asked for
# nothing asks for nothing of each.
KINDS = (
    "review_due",
    "review_overdue",
    "recertification",
    "waiver_expiring",
    "document_expiring",
    "incident_deadline",
    "approval_stale",
    "readiness_lost",
)


def _create(modes: str, *, kind: bool) -> sa.Table:
    columns = [sa.Column("address", sa.String(length=320), nullable=False)]
    if kind:
        columns.append(sa.Column("kind", sa.String(length=32), nullable=False))
    return op.create_table(
        TABLE,
        *columns,
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("changed_at", registry.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"mode IN {modes}", name=op.f(f"ck_{TABLE}_mode_known")),
        sa.PrimaryKeyConstraint(
            *(("address", "kind") if kind else ("address",)), name=op.f(f"pk_{TABLE}")
        ),
    )


def upgrade() -> None:
    bind = op.get_bind()
    old = sa.table(
        TABLE,
        sa.column("address"),
        sa.column("mode"),
        sa.column("changed_at", registry.db.UTCDateTime(timezone=True)),
    )
    rows = bind.execute(sa.select(old.c.address, old.c.mode, old.c.changed_at)).all()
    op.drop_table(TABLE)
    table = _create("('email', 'digest', 'none')", kind=True)
    if rows:
        op.bulk_insert(
            table,
            [
                {"address": a, "kind": k, "mode": m, "changed_at": at}
                for a, m, at in rows
                for k in KINDS
            ],
        )


def downgrade() -> None:
    bind = op.get_bind()
    new = sa.table(
        TABLE,
        sa.column("address"),
        sa.column("mode"),
        sa.column("changed_at", registry.db.UTCDateTime(timezone=True)),
    )
    # An address that asked for nothing of every kind had asked for nothing.
    rows = bind.execute(
        sa.select(new.c.address, sa.func.max(new.c.changed_at))
        .where(new.c.mode == "none")
        .group_by(new.c.address)
        .having(sa.func.count() == len(KINDS))
    ).all()
    op.drop_table(TABLE)
    table = _create("('email', 'none')", kind=False)
    if rows:
        op.bulk_insert(table, [{"address": a, "mode": "none", "changed_at": at} for a, at in rows])
