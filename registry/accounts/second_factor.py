"""The second factor of local accounts: TOTP (RFC 6238, through pyotp) and single-use
recovery codes. Every change is an audit event; nothing here commits.

Enrolment is two steps: :func:`begin_enrolment` gives the user a new secret (pending:
not in force), :func:`confirm_enrolment` puts it in force once the user proves their
authenticator has it, and returns the recovery codes (shown once; only their SHA-256
is stored). :func:`check_code` accepts a TOTP code (each time step once: a code seen
is never good again) or an unused recovery code (used up by a conditional update, so
two requests racing with the same code cannot both pass).

Every function takes ``now``: the caller's clock (the app's, which tests set).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

import pyotp
import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.models import RecoveryCode, User
from registry.accounts.permissions import require
from registry.errors import Conflict, InvalidInput
from registry.ledger.append import append_event

RECOVERY_CODES = 10
# Codes of the time steps either side of now are accepted too (clock drift, typing time).
DRIFT_STEPS = 1
# Which roles a mandatory second factor applies to (REGISTRY_SECOND_FACTOR_MANDATORY).
MANDATORY_FOR = frozenset({"admin", "compliance_officer"})


def must_enrol(user: User, mandatory: bool) -> bool:
    """Whether ``user`` must enrol a second factor before doing anything else: it is
    mandatory and they hold a role it applies to, and have none yet."""
    return mandatory and bool(user.roles & MANDATORY_FOR) and not user.has_second_factor


def begin_enrolment(session: Session, user: User) -> str:
    """A new pending TOTP secret for ``user`` (base32); the one in force, if any, stays
    until a new one is confirmed."""
    if user.has_second_factor:
        raise Conflict("A second factor is already set up: remove it first.")
    user.totp_secret = pyotp.random_base32()
    session.flush()
    return user.totp_secret


def provisioning_uri(user: User, issuer: str) -> str:
    """The ``otpauth://`` URI of ``user``'s pending secret (what the QR code holds)."""
    assert user.totp_secret is not None
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=issuer)


def _step(totp: pyotp.TOTP, now: dt.datetime) -> int:
    return totp.timecode(now)


def _matching_step(secret: str, code: str, now: dt.datetime, after: int | None) -> int | None:
    """The time step (around ``now``, later than ``after``) whose code is ``code``."""
    code = code.strip().replace(" ", "")
    if not (code.isascii() and code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    now_step = _step(totp, now)
    for step in range(now_step - DRIFT_STEPS, now_step + DRIFT_STEPS + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _hash_code(code: str) -> str:
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(normal.encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = secrets.token_hex(5)
    return f"{raw[:5]}-{raw[5:]}"


def confirm_enrolment(session: Session, user: User, code: str, now: dt.datetime) -> list[str]:
    """Put ``user``'s pending secret in force when ``code`` is its current code; the new
    recovery codes (any earlier ones are void)."""
    if user.has_second_factor:
        raise Conflict("A second factor is already set up.")
    if user.totp_secret is None:
        raise Conflict("Start the set-up again: there is no pending secret.")
    step = _matching_step(user.totp_secret, code, now, None)
    if step is None:
        raise InvalidInput(
            "The code is not valid.",
            {"code": ["Not the code your authenticator shows now: try the next one."]},
        )
    user.totp_enabled_at = now
    user.totp_last_step = step
    codes = _replace_recovery_codes(session, user)
    append_event(
        session,
        {
            "action": "user.second_factor_enrol",
            "actor": f"user:{user.email}",
            "user_id": user.id,
            "email": user.email,
            "method": "totp",
        },
    )
    return codes


def _replace_recovery_codes(session: Session, user: User) -> list[str]:
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=_hash_code(c)) for c in codes)
    session.flush()
    return codes


def check_code(session: Session, user: User, code: str, now: dt.datetime) -> str | None:
    """How ``code`` proves the second factor of ``user`` (``totp`` or ``recovery``), or
    None. A TOTP code is good once (its time step must be later than the last one
    accepted); a recovery code is used up."""
    if not user.has_second_factor or user.totp_secret is None:
        return None
    step = _matching_step(user.totp_secret, code, now, user.totp_last_step)
    if step is not None:
        taken = session.execute(
            sa.update(User)
            .where(
                User.id == user.id,
                sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step),
            )
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            user.totp_last_step = step
            return "totp"
        return None
    if len(code) > 64:
        return None
    used = session.execute(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == _hash_code(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return "recovery" if used.rowcount == 1 else None  # type: ignore[attr-defined]


def recovery_codes_left(session: Session, user: User) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


def remove_second_factor(session: Session, actor: Actor, user: User) -> None:
    """Remove ``user``'s second factor and recovery codes: the user themselves (a surface
    asks them for a code first) or an administrator (a lost authenticator)."""
    if actor.user_id != user.id:
        require(session, actor, "manage_accounts")
    if not user.has_second_factor and user.totp_secret is None:
        return
    had = user.has_second_factor
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.flush()
    if had:
        append_event(
            session,
            {
                "action": "user.second_factor_remove",
                "actor": actor.label,
                "user_id": user.id,
                "email": user.email,
            },
        )
