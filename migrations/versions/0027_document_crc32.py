"""documents: the CRC-32 of the bytes received, which an export checks each carried file
against instead of hashing it again

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-06 01:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Unsigned 32 bits: beyond PostgreSQL's INTEGER, so BIGINT. Documents received before
    # have none (their blobs are in the blob store, which a migration does not reach):
    # an export checks their files by SHA-256, as it did.
    op.add_column("document", sa.Column("crc32", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    # DROP COLUMN on both engines (SQLite 3.35+): the table is not rebuilt.
    op.drop_column("document", "crc32")
