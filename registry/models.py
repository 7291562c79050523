"""Imports every model so that the metadata knows every table (Alembic, tests)."""

from registry.accounts.models import (
    ApiToken,
    PasswordReset,
    RecoveryCode,
    User,
    UserIdentity,
    UserRole,
)
from registry.api.models import IdempotencyKey
from registry.documents.models import Document
from registry.ledger.models import AuditEvent, Checkpoint, MerkleBlock, WitnessCosignature
from registry.records.models import AISystem, Entry, EntryVersion

__all__ = [
    "AISystem",
    "ApiToken",
    "AuditEvent",
    "Checkpoint",
    "Document",
    "Entry",
    "EntryVersion",
    "IdempotencyKey",
    "MerkleBlock",
    "PasswordReset",
    "RecoveryCode",
    "User",
    "UserIdentity",
    "UserRole",
    "WitnessCosignature",
]
