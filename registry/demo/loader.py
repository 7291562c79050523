"""Loading the demo: users per role, the NL register, the hand-written examples.

Nothing here commits: ``registry demo`` loads the users, the register and the
examples in its one transaction, so a failure anywhere leaves nothing behind. The
examples' dates are moved to the day they are loaded (``registry.demo.dates``).
"""

from __future__ import annotations

import datetime as dt
import io
import mimetypes
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.models import User
from registry.accounts.service import create_user, new_password
from registry.demo import dates
from registry.documents.service import Upload, receive
from registry.documents.store import BlobStore
from registry.files import write_private
from registry.readiness.gate import check_promotion
from registry.records import reads, writes
from registry.records.models import AISystem

DEMO_USERS = (
    ("admin@demo.registry.example", "Ada Admin", "admin"),
    ("officer@demo.registry.example", "Olivia Officer", "compliance_officer"),
    ("techowner@demo.registry.example", "Tessa Technical", "technical_owner"),
    ("auditor@demo.registry.example", "Arjen Auditor", "auditor"),
)


def read_credentials(credentials_file: Path) -> dict[str, str]:
    """The demo passwords kept by an earlier load (e-mail → password)."""
    known: dict[str, str] = {}
    if credentials_file.exists():
        for line in credentials_file.read_text().splitlines():
            email, _, password = line.partition(" ")
            known[email] = password
    return known


def write_credentials(credentials_file: Path, known: dict[str, str]) -> None:
    """Keep the demo passwords (mode 0600, under instance/) so that a second
    ``make run`` can print them again; written once the users are committed."""
    write_private(credentials_file, "".join(f"{e} {p}\n" for e, p in known.items()), replace=True)


def ensure_demo_users(session: Session, known: dict[str, str]) -> list[tuple[str, str, str]]:
    """Create the demo users that do not exist yet, with the password ``known`` holds
    for them or a new one (added to ``known``); (e-mail, role, password) of each."""
    actor = Actor.system("demo", roles=frozenset({"admin"}))
    result = []
    for email, name, role in DEMO_USERS:
        if session.scalar(sa.select(User.id).where(User.email == email)) is None:
            password = known.get(email) or new_password()
            create_user(session, actor, email, [role], password=password, name=name)
            known[email] = password
        result.append((email, role, known.get(email, "(set before; not known here)")))
    return result


def _resolve(body: Any, keys: dict[str, int]) -> Any:
    if isinstance(body, dict):
        return {k: _resolve(v, keys) for k, v in body.items()}
    if isinstance(body, list):
        return [_resolve(v, keys) for v in body]
    if isinstance(body, str) and body.startswith("@"):
        return keys[body[1:]]
    return body


def load_examples(
    session: Session,
    actor: Actor,
    examples: list[dict[str, Any]],
    load_day: dt.date | None = None,
    *,
    store: BlobStore,
) -> int:
    """Record the hand-written example systems (skipping those already present), their
    dates moved to ``load_day`` (default: today, UTC) as ``registry.demo.dates`` says,
    and their evidence documents (received into ``store``) before their entries."""
    if load_day is None:
        load_day = dt.datetime.now(dt.UTC).date()
    days = dates.offset_from(load_day)

    def instant(value: str) -> dt.datetime:
        return dt.datetime.fromisoformat(dates.shift_instant(value, days))

    def text(value: str | None) -> str | None:
        return None if value is None else dates.render(value, days)

    loaded = 0
    for example in examples:
        ref = example["profile"]["reference"]
        if session.scalar(sa.select(AISystem.id).where(AISystem.reference == ref)):
            continue
        system, _ = writes.create_system(
            session,
            actor,
            dates.shift_body("profile", example["profile"], days),
            effective_from=instant(example["profile_effective_from"]),
            reason="Initial registration",
        )
        for document in example.get("documents", []):
            data = document["text"].encode()
            staged = store.stage(len(data)).copy_from(io.BytesIO(data))
            valid_until = document.get("valid_until")
            upload = Upload(
                document["name"],
                media_type=mimetypes.guess_type(document["name"])[0],
                title=document.get("title"),
                document_type=document["document_type"],
                valid_until=dates.shift_date(valid_until, days) if valid_until else None,
            )
            receive(session, actor, system, store, staged, upload)
        keys: dict[str, int] = {}
        for item in example["entries"]:
            kind = item["kind"]
            version = writes.create_entry(
                session,
                actor,
                system,
                kind,
                _resolve(dates.shift_body(kind, item["body"], days), keys),
                effective_from=instant(item["effective_from"]),
                reason=text(item.get("reason")),
            )
            entry = reads.get_entry(session, version.entry_id)
            keys[item.get("key", str(entry.id))] = entry.id
            for update in item.get("updates", []):
                writes.update_entry(
                    session,
                    actor,
                    entry,
                    _resolve(dates.shift_body(kind, update["body"], days), keys),
                    base_version=entry.head_number,
                    effective_from=instant(update["effective_from"]),
                    reason=text(update.get("reason")),
                    gate=check_promotion,
                )
            if item.get("retire"):
                writes.retire_entry(
                    session,
                    actor,
                    entry,
                    base_version=entry.head_number,
                    effective_from=instant(item["retire"]["effective_from"]),
                    reason=text(item["retire"].get("reason")),
                )
        for update in example.get("profile_updates", []):
            # After the entries: a promotion to production passes the readiness gate
            # on the evidence in effect when it takes effect.
            entry = reads.profile_entry(session, system)
            writes.update_entry(
                session,
                actor,
                entry,
                dates.shift_body("profile", update["body"], days),
                base_version=entry.head_number,
                effective_from=instant(update["effective_from"]),
                reason=text(update.get("reason")),
                gate=check_promotion,
            )
        loaded += 1
    return loaded
