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
from registry.jobs.models import Job
from registry.ledger.models import AuditEvent, Checkpoint, MerkleBlock, WitnessCosignature
from registry.notifications.due_list import DueCursor, DueRow, DueState
from registry.notifications.models import (
    DeliveryAttempt,
    NotificationPreference,
    NotifyCursor,
    OutboxMessage,
    SystemSubscription,
    WebhookSubscription,
)
from registry.readiness.projection import ReadinessProjection
from registry.records.models import AISystem, Entry, EntryVersion
from registry.records.search_index import SearchCursor, SystemSearch

__all__ = [
    "AISystem",
    "ApiToken",
    "AuditEvent",
    "Checkpoint",
    "DeliveryAttempt",
    "Document",
    "DueCursor",
    "DueRow",
    "DueState",
    "Entry",
    "EntryVersion",
    "IdempotencyKey",
    "Job",
    "MerkleBlock",
    "ReadinessProjection",
    "PasswordReset",
    "RecoveryCode",
    "SearchCursor",
    "SystemSearch",
    "NotificationPreference",
    "NotifyCursor",
    "OutboxMessage",
    "SystemSubscription",
    "User",
    "UserIdentity",
    "UserRole",
    "WebhookSubscription",
    "WitnessCosignature",
]
