"""Users, passwords and API tokens. Every change is an audit event."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from psycopg.rows import namedtuple_row
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from registry.accounts.actor import Actor
from registry.accounts.models import (
    ROLES,
    TOKEN_SCOPES,
    ApiToken,
    PasswordReset,
    User,
    UserRole,
)
from registry.accounts.passwords import password_problem
from registry.accounts.permissions import require
from registry.db import (
    MAX_ID,
    SQLITE_BUSY_TIMEOUT_MS,
    driver_connection,
    driver_sql,
    utcnow,
)
from registry.errors import Conflict, InvalidInput, NotFound, PermissionDenied, RegistryError
from registry.ledger.append import append_event
from registry.text import text_problem

TOKEN_PREFIX = "reg_"
MAX_TOKEN_DAYS = 366
# What a sign-in with an unknown e-mail checks its password against, so that it takes
# as long as one with a known e-mail and the timing does not tell which e-mails exist.
# It is a fixed string, not computed at import: hashing (scrypt) would cost every
# process a tenth of a second or more before it can serve. It only equalises timing, so
# it need not be secret: it is the hash of a random password made once and thrown away,
# with the parameters generate_password_hash uses (a test holds them equal).
_DUMMY_HASH = (
    "scrypt:32768:8:1$2gZmuCtbSmgBpMjU$12d9b536473b28cbad036aa2b1ed770c165b1abd2aad6b2578b30b"
    "e5a759ffffd2529b434cb3a9e7c8f968171222c924636d341d38501ecd11188724ead43b16"
)


def new_password() -> str:
    """A generated password, for users given none."""
    return secrets.token_urlsafe(12)


def _hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _audit(session: Session, actor: Actor, action: str, **fields: object) -> None:
    append_event(session, {"action": action, "actor": actor.label, **fields})


def _find_user(session: Session, email: str) -> User | None:
    email = email.strip().lower()
    if text_problem(email):  # no user has it, and PostgreSQL cannot even compare it
        return None
    return session.scalar(sa.select(User).where(User.email == email))


def get_user(session: Session, email: str) -> User:
    user = _find_user(session, email)
    if user is None:
        raise NotFound(f"No user {email!r}.")
    return user


def create_user(
    session: Session,
    actor: Actor,
    email: str,
    roles: list[str] | tuple[str, ...],
    password: str | None = None,
    name: str = "",
) -> tuple[User, str]:
    """Create a user; returns the user and the password (generated when not given)."""
    require(session, actor, "manage_accounts")
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if "@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@"):
        errors["email"] = ["Not a valid email address."]
    elif problem := text_problem(email):
        errors["email"] = [problem]
    name = name.strip()
    if len(name) > 200:
        errors["name"] = ["Longer than maximum length 200."]
    elif problem := text_problem(name):
        errors["name"] = [problem]
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        errors["roles"] = [f"Roles must be among: {', '.join(ROLES)}."]
    if password is not None and (problem := password_problem(password)):
        errors["password"] = [problem]
    if errors:
        raise InvalidInput("The user is not valid.", errors)
    if session.scalar(sa.select(User.id).where(User.email == email)):
        raise Conflict(f"A user {email!r} already exists.", errors={"email": ["Already in use."]})
    password = password or new_password()
    user = User(email=email, name=name, password_hash=generate_password_hash(password))
    user.role_rows = [UserRole(role=r) for r in sorted(set(roles))]
    session.add(user)
    session.flush()
    _audit(session, actor, "user.create", user_id=user.id, email=email, roles=sorted(set(roles)))
    return user, password


def set_roles(
    session: Session, actor: Actor, user: User, roles: list[str] | tuple[str, ...]
) -> User:
    """Give ``user`` exactly ``roles``. An admin may not remove their own admin role,
    so the registry never loses its last administrator this way."""
    require(session, actor, "manage_accounts")
    wanted = sorted(set(roles))
    if not wanted or any(r not in ROLES for r in wanted):
        raise InvalidInput(
            "The roles are not valid.", {"roles": [f"Roles must be among: {', '.join(ROLES)}."]}
        )
    if actor.user_id == user.id and "admin" in user.roles and "admin" not in wanted:
        raise Conflict(
            "You may not remove your own admin role: ask another administrator to do it.",
            errors={"roles": ["You may not remove your own admin role."]},
        )
    before = sorted(user.roles)
    if before == wanted:
        return user
    user.role_rows = [r for r in user.role_rows if r.role in wanted] + [
        UserRole(role=r) for r in wanted if r not in before
    ]
    end_sessions(session, user)
    _audit(
        session,
        actor,
        "user.roles",
        user_id=user.id,
        email=user.email,
        roles=wanted,
        previous_roles=before,
    )
    return user


def set_active(session: Session, actor: Actor, user: User, active: bool) -> User:
    """Activate or deactivate ``user`` (a deactivated user can neither sign in nor use
    their tokens). An admin may not deactivate themselves."""
    require(session, actor, "manage_accounts")
    active = bool(active)
    if actor.user_id == user.id and not active:
        raise Conflict("You may not deactivate yourself: ask another administrator to do it.")
    if user.is_active == active:
        return user
    user.is_active = active
    end_sessions(session, user)
    _audit(
        session,
        actor,
        "user.activate" if active else "user.deactivate",
        user_id=user.id,
        email=user.email,
    )
    return user


def set_password(session: Session, actor: Actor, user: User, password: str) -> User:
    """Give ``user`` a new password (users change their own; administrators anyone's)
    and end every session of theirs."""
    if actor.user_id != user.id:
        require(session, actor, "manage_accounts")
    if problem := password_problem(password):
        raise InvalidInput("The password is not valid.", {"password": [problem]})
    user.password_hash = generate_password_hash(password)
    end_sessions(session, user)
    _audit(session, actor, "user.password", user_id=user.id, email=user.email)
    return user


def change_password(session: Session, user: User, current: str, new: str) -> User:
    """``user`` changes their own password, giving the one they have now: the new one
    passes the policy of every password (:func:`password_problem`, checked first: no
    hashing for a refused one), then ``current`` must be theirs (:class:`WrongPassword`
    otherwise, which a surface throttles like a failed sign-in). As with
    :func:`set_password`, every session of theirs ends; a surface may let the session
    that asked go on."""
    if problem := password_problem(new):
        raise InvalidInput("The new password is not valid.", {"new_password": [problem]})
    if not user.password_hash or not check_password_hash(user.password_hash, current):
        raise WrongPassword(
            "The current password is wrong.",
            errors={"current_password": ["This is not your current password."]},
        )
    return set_password(session, Actor.for_user(user), user, new)


RESET_HOURS = 24  # how long a reset link is good for, unless its issuer says otherwise
MAX_RESET_HOURS = 7 * 24


def issue_password_reset(
    session: Session,
    actor: Actor,
    user: User,
    *,
    hours: int = RESET_HOURS,
    now: dt.datetime | None = None,
) -> tuple[PasswordReset, str]:
    """A single-use link to set ``user``'s password, good for ``hours``: the reset and
    its secret (returned once, never stored: only its SHA-256 is). An administrator
    issues it and hands the link over (the delivery is the caller's)."""
    require(session, actor, "manage_accounts")
    return _issue_reset(session, actor, user, hours, now or utcnow())


# Who issues the reset links users ask for themselves: the registry, with no role.
SELF_SERVICE = Actor.system("password-reset", roles=frozenset())


def request_password_reset(
    session: Session, email: str, *, hours: int = RESET_HOURS, now: dt.datetime | None = None
) -> tuple[User, PasswordReset, str] | None:
    """Someone asks for a reset link for the account with ``email``, to be sent there:
    the user, the reset and its secret (issued by the registry itself, as
    :func:`issue_password_reset` issues one), or None when no link is to be sent, which
    the caller must not reveal: no such account, a deactivated one, or one that signs in
    only through an identity provider (no local password to reset)."""
    user = _find_user(session, email)
    if user is None or not user.is_active or not user.password_hash:
        return None
    reset, secret = _issue_reset(session, SELF_SERVICE, user, hours, now or utcnow())
    return user, reset, secret


def _issue_reset(
    session: Session, actor: Actor, user: User, hours: int, now: dt.datetime
) -> tuple[PasswordReset, str]:
    """Issue a reset link for ``user`` by ``actor`` (who may, checked by the caller)."""
    if not 1 <= hours <= MAX_RESET_HOURS:
        raise InvalidInput(
            "The reset link is not valid.",
            {"hours": [f"Must be between 1 and {MAX_RESET_HOURS}."]},
        )
    if not user.is_active:
        raise Conflict(f"User {user.email!r} is deactivated.")
    secret = secrets.token_urlsafe(32)
    reset = PasswordReset(
        user_id=user.id,
        token_hash=_hash_token(secret),
        issued_by=actor.label,
        created_at=now,
        expires_at=now + dt.timedelta(hours=hours),
    )
    session.add(reset)
    session.flush()
    _audit(
        session,
        actor,
        "user.password_reset_issue",
        user_id=user.id,
        email=user.email,
        reset_id=reset.id,
        expires_at=reset.expires_at.isoformat(),
    )
    return reset, secret


def usable_reset(session: Session, secret: str, now: dt.datetime | None = None) -> PasswordReset:
    """The reset link ``secret`` names while it can still be used; :class:`ResetRefused`
    when it is unknown, used, expired, or its user deactivated."""
    now = now or utcnow()
    reset = None
    if secret.isascii() and 0 < len(secret) <= 100:
        reset = session.scalar(
            sa.select(PasswordReset).where(PasswordReset.token_hash == _hash_token(secret))
        )
    if reset is None:
        raise ResetRefused("This password reset link is not valid.")
    if reset.used_at is not None:
        raise ResetRefused("This password reset link has already been used.")
    if reset.expires_at <= now:
        raise ResetRefused("This password reset link has expired: ask for a new one.")
    if not reset.user.is_active:
        raise ResetRefused("This account is deactivated.")
    return reset


def reset_password(
    session: Session, secret: str, new: str, *, now: dt.datetime | None = None
) -> User:
    """Set a new password through the reset link ``secret`` and use the link up (once
    only, even when two requests race: the update that marks it used is conditional);
    every session of the user ends."""
    now = now or utcnow()
    reset = usable_reset(session, secret, now)
    if problem := password_problem(new):
        raise InvalidInput("The new password is not valid.", {"new_password": [problem]})
    used = session.execute(
        sa.update(PasswordReset)
        .where(PasswordReset.id == reset.id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise ResetRefused("This password reset link has already been used.")
    user = reset.user
    user.password_hash = generate_password_hash(new)
    end_sessions(session, user)
    _audit(
        session,
        Actor.for_user(user),
        "user.password_reset",
        user_id=user.id,
        email=user.email,
        reset_id=reset.id,
    )
    return user


class ResetRefused(RegistryError):
    """A password reset link that cannot be used (any more)."""

    status = 410
    title = "Gone"


class WrongPassword(RegistryError):
    """A password given to prove who one is did not match (status 401)."""

    status = 401
    title = "Unauthorized"


def end_sessions(session: Session, user: User) -> None:
    """End every sign-in session of ``user`` at once: move their session generation on
    (in SQL, so two changes at once both count), which refuses every session that
    began under an earlier one."""
    user.session_generation = User.session_generation + 1
    session.flush()


def sign_out(session: Session, user: User) -> None:
    """Signing out ends every session of the user, not only the one signing out: a copy
    of its cookie is no longer accepted anywhere."""
    end_sessions(session, user)


def session_user(session: Session, user_id: str, generation: object) -> User | None:
    """The user a sign-in session names, while the session is valid: the user is
    active and the session began under their current generation."""
    if not (user_id.isascii() and user_id.isdigit()) or type(generation) is not int:
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_generation != generation:
        return None
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None."""
    user = _find_user(session, email)
    if user is None or not user.password_hash:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.is_active:
        return None
    return user


def record_sign_in(session: Session, user: User, method: str) -> None:
    """Record that ``user`` signed in, and how (``password``, ``password+totp``,
    ``password+recovery``, ``oidc``)."""
    _audit(
        session,
        Actor.for_user(user),
        "user.sign_in",
        user_id=user.id,
        email=user.email,
        method=method,
    )


def record_failed_sign_in(session: Session, email: str, step: str) -> None:
    """Record a failed sign-in at the account with this e-mail, at ``step``
    (``password`` or ``second_factor``). An e-mail no account has is not recorded (it
    may be anything typed, even a password): the sign-in throttle counts those."""
    user = _find_user(session, email)
    if user is None:
        return
    append_event(
        session,
        {
            "action": "user.sign_in_failed",
            "actor": "anonymous",
            "user_id": user.id,
            "email": user.email,
            "step": step,
        },
    )


def create_token(
    session: Session,
    actor: Actor,
    user: User,
    *,
    name: str = "",
    scopes: tuple[str, ...] = TOKEN_SCOPES,
    days: int = 90,
) -> tuple[ApiToken, str]:
    """Issue an API token for ``user``; the secret is returned once and never stored."""
    if actor.user_id != user.id:
        require(session, actor, "manage_accounts")
    elif not actor.has_scope("write") or (
        actor.scopes is not None and not set(scopes) <= actor.scopes
    ):
        # A token can issue tokens for its user, never with more than it has itself.
        raise PermissionDenied(
            f"{actor.label} may not issue a token with more scopes than its own."
        )
    errors: dict[str, list[str]] = {}
    if not scopes or any(s not in TOKEN_SCOPES for s in scopes):
        errors["scopes"] = [f"Scopes must be among: {', '.join(TOKEN_SCOPES)}."]
    if not 1 <= days <= MAX_TOKEN_DAYS:
        errors["days"] = [f"Must be between 1 and {MAX_TOKEN_DAYS}."]
    if len(name) > 100:
        errors["name"] = ["Longer than maximum length 100."]
    elif problem := text_problem(name):
        errors["name"] = [problem]
    if errors:
        raise InvalidInput("The token request is not valid.", errors)
    if not user.is_active:
        raise Conflict(f"User {user.email!r} is deactivated.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=secret[:12],
        token_hash=_hash_token(secret),
        scopes=" ".join(s for s in TOKEN_SCOPES if s in scopes),
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
    )
    session.add(token)
    session.flush()
    _audit(session, actor, "token.create", token_id=token.id, user_id=user.id, scopes=token.scopes)
    return token, secret


def revoke_token(session: Session, actor: Actor, prefix_or_id: str) -> ApiToken:
    """Revoke a token named by its id or its displayed prefix (``reg_…``)."""
    stmt = sa.select(ApiToken)
    if prefix_or_id.isdigit():
        stmt = stmt.where(ApiToken.id == int(prefix_or_id))
    else:
        stmt = stmt.where(ApiToken.prefix == prefix_or_id[:12])
    token = session.scalar(stmt)
    if token is None:
        raise NotFound(f"No token {prefix_or_id!r}.")
    if actor.user_id != token.user_id:
        require(session, actor, "manage_accounts")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
        _audit(session, actor, "token.revoke", token_id=token.id, user_id=token.user_id)
    return token


# ----------------------------------------------------------------------------- reads


def user_by_id(session: Session, user_id: int) -> User:
    """The user ``user_id``; NotFound when there is none."""
    user = session.get(User, user_id) if 0 < user_id <= MAX_ID else None
    if user is None:
        raise NotFound(f"No user {user_id}.")
    return user


def users_by_email(session: Session) -> list[User]:
    """Every user, by e-mail."""
    return list(session.scalars(sa.select(User).order_by(User.email)))


def is_live(token: ApiToken, now: dt.datetime) -> bool:
    """Whether ``token`` is usable at ``now``: not revoked and not expired."""
    return token.revoked_at is None and token.expires_at > now


def live_token_counts(session: Session, now: dt.datetime) -> dict[int, int]:
    """Per user id, how many of the user's tokens are live at ``now`` (users with none
    are left out)."""
    live: dict[int, int] = {}
    for token in session.scalars(sa.select(ApiToken).where(ApiToken.revoked_at.is_(None))):
        if is_live(token, now):
            live[token.user_id] = live.get(token.user_id, 0) + 1
    return live


def tokens_of(session: Session, user_id: int | None) -> list[ApiToken]:
    """The tokens of user ``user_id``, newest first, revoked and expired ones included."""
    return list(
        session.scalars(
            sa.select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
        )
    )


def token_by_id(session: Session, token_id: int) -> ApiToken | None:
    """The token ``token_id`` (with its user), or None."""
    return session.get(ApiToken, token_id) if 0 < token_id <= MAX_ID else None


@dataclass(frozen=True)
class TokenIdentity:
    """Who an accepted API token speaks for: the token and its user, as plain values."""

    token_id: int
    scopes: frozenset[str]
    expires_at: dt.datetime
    user_id: int
    email: str
    name: str
    roles: frozenset[str]
    last_used_at: dt.datetime | None = None

    @property
    def use_unrecorded(self) -> bool:
        """Whether today's use of the token is not recorded yet (see
        :func:`record_token_use`)."""
        return self.last_used_at is None or self.last_used_at < day_start(utcnow())

    @property
    def actor(self) -> Actor:
        return Actor(
            label=f"user:{self.email}",
            roles=self.roles,
            user_id=self.user_id,
            email=self.email,
            scopes=self.scopes,
        )


# One round trip on every API request: the token, its user and the user's roles (a row
# per role).
_token, _user, _role = ApiToken.__table__, User.__table__, UserRole.__table__
_TOKEN_LOOKUP = (
    sa.select(
        _token.c.id,
        _token.c.token_hash,
        _token.c.scopes,
        _token.c.expires_at,
        _token.c.revoked_at,
        _token.c.last_used_at,
        _user.c.id.label("user_id"),
        _user.c.email,
        _user.c.name,
        _user.c.is_active,
        _role.c.role,
    )
    .join(_user, _user.c.id == _token.c.user_id)
    .outerjoin(_role, _role.c.user_id == _user.c.id)
    .where(_token.c.token_hash == sa.bindparam("digest"))
)
# Whether a token with the lookup's hash exists: what a write's ledger lock, taken in
# the lookup's round trip, waits on (an unknown token takes no lock). Not the rule of a
# valid token: token_identity is.
TOKEN_KNOWN = sa.exists().where(_token.c.token_hash == sa.bindparam("digest"))


def authenticate_token(
    bind: Session | sa.Connection | sa.Engine, authorization: str | None
) -> TokenIdentity:
    """Resolve an ``Authorization: Bearer reg_…`` header; raise :class:`TokenRejected`
    (status 401 at the surface) when it is missing, unknown, expired or revoked.

    ``bind``: a session or a connection (the lookup is one Core query on it), or an
    engine: the lookup then runs by itself, outside any unit of work, and on PostgreSQL
    on the driver's own connection (:func:`registry.db.driver_connection`)."""
    statement, params = token_lookup(authorization)
    rows: Sequence[Any]
    if isinstance(bind, sa.Engine) and bind.dialect.name == "postgresql":
        with driver_connection(bind) as driver:
            cursor = driver.cursor(row_factory=namedtuple_row)
            lookup = driver_sql(statement, bind)
            rows = cursor.execute(lookup.text, lookup.params(**params)).fetchall()
    elif isinstance(bind, sa.Engine):
        with bind.connect() as connection:
            rows = connection.execute(statement, params).all()
    else:
        connection = bind if isinstance(bind, sa.Connection) else bind.connection()
        rows = connection.execute(statement, params).all()
    return token_identity(rows, params)


def token_lookup(authorization: str | None) -> tuple[sa.Select[Any], dict[str, Any]]:
    """The query that looks an ``Authorization: Bearer reg_…`` header's token up (one
    row per role of its user), and its parameters; :class:`TokenRejected` when the
    header is missing or names no registry token. For a caller that sends the lookup
    with other statements (``ledger.append.read_first``); :func:`token_identity` reads
    its rows."""
    if not authorization or not authorization.startswith("Bearer "):
        raise TokenRejected("Send an API token as 'Authorization: Bearer reg_…'.")
    secret = authorization[len("Bearer ") :].strip()
    if not secret.startswith(TOKEN_PREFIX):
        raise TokenRejected("That is not a registry API token.")
    return _TOKEN_LOOKUP, {"digest": _hash_token(secret)}


def token_identity(rows: Sequence[Any], params: dict[str, Any]) -> TokenIdentity:
    """Who the token looked up by :func:`token_lookup` (``params``) speaks for, from the
    lookup's ``rows``; :class:`TokenRejected` when it is unknown, revoked or expired, or
    its user deactivated."""
    digest = params["digest"]
    if not rows or not hmac.compare_digest(rows[0].token_hash, digest):
        raise TokenRejected("Unknown API token.")
    row = rows[0]
    if row.revoked_at is not None:
        raise TokenRejected("This API token has been revoked.")
    expires_at = row.expires_at.astimezone(dt.UTC)
    if expires_at <= utcnow():
        raise TokenRejected("This API token has expired.")
    if not row.is_active:
        raise TokenRejected("The token's user is deactivated.")
    return TokenIdentity(
        token_id=row.id,
        scopes=frozenset(row.scopes.split()),
        expires_at=expires_at,
        user_id=row.user_id,
        email=row.email,
        name=row.name,
        roles=frozenset(r.role for r in rows if r.role is not None),
        last_used_at=row.last_used_at.astimezone(dt.UTC) if row.last_used_at else None,
    )


TOKEN_USE_WAIT_MS = 100  # how long recording a token's use waits for SQLite's write lock


def day_start(now: dt.datetime) -> dt.datetime:
    """Midnight UTC of ``now``'s day: a token's use is recorded once per such day."""
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def record_token_use(bind: sa.Engine, token_id: int, now: dt.datetime | None = None) -> bool:
    """Record that token ``token_id`` was used today, in a short transaction of its own
    (before the request's unit of work takes any lock): at most one update per token
    per day, however many requests race to record it (the update is conditional on the
    last use being before today). Whether it wrote.

    It is bookkeeping, so it never holds a request up: on SQLite, when another
    transaction holds the write lock for more than a moment, the use is left for the
    token's next request to record."""
    now = now or utcnow()
    update = (
        sa.update(_token)
        .where(
            _token.c.id == token_id,
            sa.or_(_token.c.last_used_at.is_(None), _token.c.last_used_at < day_start(now)),
        )
        .values(last_used_at=now)
    )
    with bind.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:  # on the driver's connection: no transaction begins for it
            connection.connection.driver_connection.execute(  # type: ignore[union-attr]
                f"PRAGMA busy_timeout={TOKEN_USE_WAIT_MS}"
            )
        try:
            with connection.begin():
                done = connection.execute(update)
        except sa.exc.OperationalError:
            if not sqlite:
                raise
            return False
        finally:
            if sqlite:
                connection.connection.driver_connection.execute(  # type: ignore[union-attr]
                    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"
                )
    return done.rowcount == 1


class TokenRejected(PermissionDenied):
    status = 401
    title = "Unauthorized"
