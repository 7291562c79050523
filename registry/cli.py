"""The ``registry`` command: a Flask CLI group (``registry --help``).

Commands import the domain modules they use (migrations, ledger keys, the demo data,
evidence packs, the verifier, readiness) inside their function, so that starting the
command (``registry --help``, ``registry serve``) loads only what it runs; the app itself
is made by :func:`command_app` (``create_app``'s, with these commands added) when a
command needs it."""

from __future__ import annotations

import datetime as dt
import functools
import json
import mimetypes
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any, NoReturn

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from tqdm import tqdm

from registry import create_app, server
from registry.accounts.actor import Actor
from registry.accounts.permissions import require
from registry.applicability.oscal import system_assessment_results
from registry.db import NoDatabaseFile, no_schema, unreadable
from registry.errors import RegistryError
from registry.extensions import database, db_session, pack_files, witness_submitter
from registry.instants import in_utc, parse_instant
from registry.notifications import due_list
from registry.outage import DatabaseUnavailable, unavailable
from registry.records import search_index
from registry.sheets import importing as sheets_import

CLI_ADMIN = Actor.system("cli", roles=frozenset({"admin"}))


# The exit status of a command that failed because the database is unavailable (as
# ``registry ledger verify`` exits when it finds no ledger to read).
EXIT_UNAVAILABLE = 2


def _fail_unavailable(error: DatabaseUnavailable) -> NoReturn:
    click.echo(f"Error: {error.message}", err=True)
    sys.exit(EXIT_UNAVAILABLE)


def _fail(exc: RegistryError) -> None:
    if isinstance(exc, DatabaseUnavailable):
        _fail_unavailable(exc)
    raise click.ClickException(_refusal(exc))


def _refusal(exc: RegistryError) -> str:
    """How the command line says a refusal, in one line: its message, then any field
    errors as "field: what is wrong" (nested fields dotted), e.g. "The token request is
    not valid. (days: Must be between 1 and 366.)"."""
    errors = getattr(exc, "field_errors", None) or exc.details.get("errors") or {}
    said = "; ".join(_field_errors(errors))
    return exc.message + (f" ({said})" if said else "")


def _field_errors(errors: dict[str, Any], within: str = "") -> list[str]:
    lines = []
    for name, said in errors.items():
        if isinstance(said, dict):
            lines += _field_errors(said, f"{within}{name}.")
            continue
        items = said if isinstance(said, list | tuple) else [said]
        lines.append(f"{within}{name}: {' '.join(map(str, items))}")
    return lines


db_cli = AppGroup("db", help="Create or change the database schema (Alembic).")


@db_cli.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations up to REVISION."""
    from registry.migrate import upgrade

    upgrade(current_app.config["DATABASE_URL"], revision)
    click.echo(f"Database at {revision}.")


@db_cli.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    from registry.migrate import check

    check(current_app.config["DATABASE_URL"])
    click.echo("No differences between models and migrations.")


PG_BACKUP_PROCEDURE = """\
On PostgreSQL, back up with PostgreSQL's own tools (docs/operations.md, "Backup and
restore"): sign a checkpoint first, then dump in the custom format and keep the dump
with the signing key and the secret key:
  registry ledger checkpoint
  pg_dump --format=custom --file=registry.dump "$DATABASE"
Restore into a new, empty database:
  createdb registry_restored
  pg_restore --no-owner --dbname=registry_restored registry.dump"""


@db_cli.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(file: Path) -> None:
    """Copy the SQLite database to FILE while the registry runs (SQLite's online backup),
    after signing a checkpoint of the ledger. FILE must not exist yet."""
    import sqlite3

    from registry.ledger.checkpoints import make_checkpoint
    from registry.ledger.keys import KeyFileError, load_key

    db = database()
    if db.dialect != "sqlite":
        raise click.ClickException(PG_BACKUP_PROCEDURE)
    if file.exists():
        raise click.ClickException(f"{file} exists: name a new file.")
    if not file.parent.is_dir():
        raise click.ClickException(f"No folder {file.parent} to write the backup in.")
    # A checkpoint covering every event: packs as of any instant up to now re-export
    # from the copy exactly as from the original.
    try:
        signer = load_key(Path(current_app.config["SIGNING_KEY_PATH"]))
    except KeyFileError as exc:
        click.echo(f"No checkpoint signed ({exc}).", err=True)
    else:
        session = db_session()
        _ensure_key_recorded(session, signer)
        try:
            checkpoint = make_checkpoint(session, signer)
        except RegistryError as exc:
            session.rollback()
            checkpoint = None
            click.echo(f"No checkpoint signed. {exc.message}", err=True)
        session.commit()
        if checkpoint is not None:
            click.echo(
                f"Checkpoint of {checkpoint.tree_size} events: the whole ledger is signed.",
                err=True,
            )
    # Opened first: without a database to copy, no partial copy is left behind.
    pooled = db.engine.raw_connection()
    partial = file.with_name(f".{file.name}.partial")
    try:
        partial.unlink(missing_ok=True)
        # Created private: the copy holds password and token hashes.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        target = sqlite3.connect(partial)
        try:
            # In one step: the copy reads one snapshot, and in WAL mode writers go on
            # meanwhile; copied in slices it would start over whenever one wrote.
            pooled.driver_connection.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        pooled.close()
    os.replace(partial, file)
    click.echo(f"Backed up to {file} ({file.stat().st_size} bytes).")


# Files of verifier keys that checkpoints are checked against (with the signing key
# file's): `ledger verify` and `db copy`; read by _trusted_keys.
TRUSTED_KEYS = click.option(
    "--pubkey",
    "pubkeys",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file of trusted verifier keys (one a line); may be repeated.",
)


@db_cli.command("copy")
@click.argument("source_url")
@click.argument("target_url")
@TRUSTED_KEYS
def db_copy(source_url: str, target_url: str, pubkeys: tuple[Path, ...]) -> None:
    """Copy the whole registry at SOURCE_URL into the empty database at TARGET_URL
    (SQLite or PostgreSQL, either way), ids and history as they are, all or nothing.

    The source must be at the code's schema revision and its ledger must verify (against
    the signing key file and --pubkey). Stop the registry's writers first: the copy is
    the source as of the moment it starts reading."""
    from registry.dbcopy import CopyRefused, copy_registry

    trusted = _trusted_keys(pubkeys)
    with tqdm(unit="row", file=sys.stderr, disable=None, mininterval=0.5) as bar:
        try:
            report = copy_registry(
                source_url, target_url, trusted, progress=lambda _table, rows: bar.update(rows)
            )
        except CopyRefused as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(report.summary())


users_cli = AppGroup("users", help="Manage users.")


@users_cli.command("create")
@click.argument("email")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(["admin", "compliance_officer", "technical_owner", "auditor"]),
)
@click.option("--password", default=None, help="At least 12 characters; generated if omitted.")
@click.option("--name", default="")
def users_create(email: str, roles: tuple[str, ...], password: str | None, name: str) -> None:
    """Create a user with one or more roles."""
    from registry.accounts.service import create_user

    session = db_session()
    try:
        user, secret = create_user(session, CLI_ADMIN, email, list(roles), password, name)
    except RegistryError as exc:
        _fail(exc)
    session.commit()
    click.echo(f"Created {user.email} ({', '.join(sorted(user.roles))}).")
    if password is None:
        click.echo(f"Password: {secret}")


@users_cli.command("password")
@click.argument("email")
@click.option("--password", default=None, help="At least 12 characters; generated if omitted.")
def users_password(email: str, password: str | None) -> None:
    """Set the password of EMAIL; every session of theirs ends."""
    from registry.accounts.service import get_user, new_password, set_password

    session = db_session()
    secret = password if password is not None else new_password()
    try:
        user = set_password(session, CLI_ADMIN, get_user(session, email), secret)
    except RegistryError as exc:
        _fail(exc)
    session.commit()
    click.echo(f"Password of {user.email} set; their sessions have ended.")
    if password is None:
        click.echo(f"Password: {secret}")


@users_cli.command("link-identity")
@click.argument("email")
@click.option("--issuer", required=True, help="The OpenID Provider's issuer URL.")
@click.option("--subject", required=True, help="The person's 'sub' claim at that provider.")
def users_link_identity(email: str, issuer: str, subject: str) -> None:
    """Let EMAIL sign in through an OpenID Provider as the account SUBJECT there."""
    from registry.accounts.identity import link_identity
    from registry.accounts.service import get_user
    from registry.db import utcnow

    session = db_session()
    try:
        link_identity(session, CLI_ADMIN, get_user(session, email), issuer, subject, utcnow())
    except RegistryError as exc:
        _fail(exc)
    session.commit()
    click.echo(f"{email} now signs in as {subject!r} at {issuer.rstrip('/')}.")


tokens_cli = AppGroup("tokens", help="Manage API tokens.")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["read", "write"]),
    help="Repeat for several; default: read and write.",
)
@click.option("--days", default=None, type=int, help="Days until it expires.")
def tokens_create(email: str, name: str, scopes: tuple[str, ...], days: int | None) -> None:
    """Issue a token for EMAIL; it is printed once and only its hash is kept."""
    from registry.accounts.service import create_token, get_user

    session = db_session()
    try:
        user = get_user(session, email)
        token, secret = create_token(
            session,
            CLI_ADMIN,
            user,
            name=name,
            scopes=scopes or ("read", "write"),
            days=current_app.config["TOKEN_DEFAULT_DAYS"] if days is None else days,
        )
    except RegistryError as exc:
        _fail(exc)
    session.commit()
    click.echo(secret)
    click.echo(
        f"Token {token.prefix}… for {user.email}, scopes {token.scopes}, "
        f"expires {token.expires_at.isoformat(timespec='seconds')}. "
        "It is shown only now.",
        err=True,
    )


@tokens_cli.command("revoke")
@click.argument("token")
def tokens_revoke(token: str) -> None:
    """Revoke a token by its id or its prefix (the first 12 characters)."""
    from registry.accounts.service import revoke_token

    session = db_session()
    try:
        row = revoke_token(session, CLI_ADMIN, token)
    except RegistryError as exc:
        _fail(exc)
    session.commit()
    click.echo(f"Token {row.prefix}… revoked at {row.revoked_at:%Y-%m-%d %H:%M:%S} UTC.")


ledger_cli = AppGroup("ledger", help="The audit ledger: checkpoints and verification.")


@ledger_cli.command("verify")
@TRUSTED_KEYS
@click.option(
    "--checkpoint",
    "checkpoint_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A signed checkpoint kept elsewhere (e.g. from an evidence pack): the ledger "
    "must contain its tree. May be repeated. Given, the witnesses are not asked.",
)
@click.option(
    "--require-witnesses",
    is_flag=True,
    help="Fail (exit 1) when a configured witness cannot be asked (down, or no answer "
    "that is one); by default that is reported and does not fail.",
)
def ledger_verify(
    pubkeys: tuple[Path, ...], checkpoint_files: tuple[Path, ...], require_witnesses: bool
) -> None:
    """Check every event, version and signed checkpoint, and that the ledger contains
    the tree of every --checkpoint and of the checkpoint kept outside the database;
    exit 1 at the first problem.

    Without --checkpoint, the latest signed checkpoint is then submitted to each
    configured witness (REGISTRY_WITNESSES) with a consistency proof from the size it
    last cosigned: a witness that has cosigned a larger tree than the ledger's signed
    checkpoints (a rollback or truncation) or refuses it (a fork or rewrite) fails
    verification; one that is down is reported (with --require-witnesses, it fails)."""
    from registry.ledger.kept import KeptCheckpoint
    from registry.ledger.models import AuditEvent
    from registry.ledger.note import NoteError
    from registry.ledger.store import verify_ledger
    from registry.ledger.verify import KnownCheckpoint
    from registry.ledger.witnessing import refusal_line, refusals

    trusted = _trusted_keys(pubkeys)
    known = []
    for path in checkpoint_files:
        # A file that is no checkpoint is the caller's to fix, no verdict on the ledger.
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"Cannot read the checkpoint {path}: {exc}", err=True)
            sys.exit(2)
        try:
            known.append(KnownCheckpoint.saved(f"the checkpoint in {path}", text))
        except NoteError as exc:
            click.echo(
                f"Cannot read the checkpoint {path}: not a signed checkpoint: {exc}", err=True
            )
            sys.exit(2)
    kept = KeptCheckpoint(Path(current_app.config["KEPT_CHECKPOINT_PATH"])).known()
    if kept is not None:
        known.append(kept)
    # Only reads: on SQLite this takes no write lock, so the registry keeps working.
    session = database().read_sessionmaker()
    try:
        total = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0
        with tqdm(
            total=total, unit="event", disable=total < 50_000, file=sys.stderr, mininterval=0.5
        ) as bar:
            report = verify_ledger(
                session,
                trusted,
                progress=bar.update if total >= 50_000 else None,
                known=known,
            )
        alarms = refusals(session)
    except NoDatabaseFile as exc:
        click.echo(f"Cannot verify the ledger: {exc}.", err=True)
        sys.exit(2)
    except sa.exc.DBAPIError as exc:
        # Not a verdict on the ledger: there is no ledger to read (a file that is not
        # a registry database, a damaged one, one without the schema, no server).
        click.echo(f"Cannot verify the ledger: {unreadable(exc)}", err=True)
        sys.exit(2)
    finally:
        session.close()
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)
    if alarms:  # a witness saw a fork, rewrite or rollback of this ledger
        click.echo(refusal_line(alarms[-1]))
        sys.exit(1)
    if not checkpoint_files:
        _compare_with_witnesses(require_witnesses)


def _compare_with_witnesses(required: bool) -> None:
    """Submit the latest signed checkpoint to every configured witness (nothing signed
    here); exit 1 when one refuses it, or with ``required`` when one cannot be asked."""
    specs = _witness_specs()
    if not specs:
        if required:
            click.echo("No witness is configured (REGISTRY_WITNESSES): none to compare with.")
            sys.exit(1)
        return
    from registry.jobs.tasks import submit_to_witnesses

    outcomes = submit_to_witnesses(current_app, db_session())
    if not outcomes:
        click.echo("No signed checkpoint: nothing to compare with the witnesses.")
        if required:
            sys.exit(1)
        return
    refused = unreachable = 0
    for outcome in outcomes:
        if outcome.result == "cosigned":
            click.echo(f"{outcome.line()}: consistent with what it saw before")
        elif outcome.result == "refused":
            refused += 1
            click.echo(f"ALARM: {outcome.line()}")
        else:
            unreachable += 1
            verdict = "fails verification" if required else "not a verdict on the ledger"
            click.echo(f"{outcome.line()} (unreachable: {verdict})")
    if refused or (required and unreachable):
        sys.exit(1)


def _trusted_keys(pubkeys: tuple[Path, ...]) -> list[str]:
    """The verifier keys to check checkpoints against: those in the --pubkey files and
    the signing key file's. A --pubkey file that cannot be read or holds anything but
    verifier keys is no verdict on the ledger: one line, exit 2 (as verify-pack)."""
    from registry.evidence.verifier import read_key_files
    from registry.ledger.keys import KeyFileError, load_key

    try:
        trusted = read_key_files([str(path) for path in pubkeys])
    except (OSError, ValueError) as exc:
        click.echo(f"Error: cannot read the keys: {exc}", err=True)
        sys.exit(2)
    try:
        trusted.append(load_key(Path(current_app.config["SIGNING_KEY_PATH"])).verifier_key)
    except KeyFileError:
        pass  # keys recorded in the ledger (and --pubkey) are what there is to trust
    return trusted


@ledger_cli.command("checkpoint")
def ledger_checkpoint() -> None:
    """Sign a checkpoint of the whole ledger now."""
    from registry.ledger.checkpoints import make_checkpoint
    from registry.ledger.keys import KeyFileError, load_key

    try:
        signer = load_key(Path(current_app.config["SIGNING_KEY_PATH"]))
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    session = db_session()
    _ensure_key_recorded(session, signer)
    try:
        row = make_checkpoint(session, signer)
    except RegistryError as exc:
        _fail(exc)
    witness_submitter().take(session)  # submitted below, its answers printed
    session.commit()
    if row is None:
        click.echo("The ledger is empty: nothing to sign.")
        return
    click.echo(f"Checkpoint of {row.tree_size} events, root {row.root_hash}, key {row.key_id}:")
    click.echo(row.note, nl=False)
    _submit_to_witnesses()  # after the commit: never inside the write transaction


@ledger_cli.command("witness")
def ledger_witness() -> None:
    """Submit the latest signed checkpoint to the witnesses (REGISTRY_WITNESSES)."""
    if not _submit_to_witnesses():
        click.echo("No witness is configured (REGISTRY_WITNESSES).")


def _submit_to_witnesses() -> bool:
    """Submit the newest checkpoint to each configured witness and commit their answers
    (as the witnesses' job does); one line per witness. A witness that is down is
    reported; a refusal is an alarm."""
    from registry.jobs.tasks import submit_to_witnesses

    specs = _witness_specs()
    if not specs:
        return False
    for outcome in submit_to_witnesses(current_app, db_session()):
        click.echo(outcome.line(), err=outcome.result != "cosigned")
    return True


def _witness_specs() -> list:  # type: ignore[type-arg]
    from registry.ledger.witnessing import WitnessConfigError, parse_witnesses

    try:
        return parse_witnesses(current_app.config["WITNESSES"])
    except WitnessConfigError as exc:
        raise click.ClickException(f"REGISTRY_WITNESSES: {exc}") from None


@ledger_cli.command("proof")
@click.argument("seq", type=int)
def ledger_proof(seq: int) -> None:
    """Print (JSON) the inclusion proof of event SEQ in the latest checkpoint covering it."""
    import json

    from registry.ledger.status import prove_inclusion

    try:
        proof = prove_inclusion(db_session(), seq)
    except RegistryError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(json.dumps(proof.as_dict(), indent=2))


@ledger_cli.command("consistency")
@click.argument("from_size", metavar="FROM", type=click.IntRange(min=0))
@click.argument("to_size", metavar="TO", type=click.IntRange(min=0))
def ledger_consistency(from_size: int, to_size: int) -> None:
    """Print (JSON) the proof that the signed checkpoint of FROM events is a prefix of
    the signed checkpoint of TO events (RFC 9162 consistency proof)."""
    import json

    from registry.ledger.consistency import prove_consistency

    session = database().read_sessionmaker()
    try:
        proof = prove_consistency(session, from_size, to_size)
    except RegistryError as exc:
        _fail(exc)
    finally:
        session.close()
    click.echo(json.dumps(proof.as_dict(), indent=2))


@ledger_cli.command("monitor", with_appcontext=False)
@click.argument("url")
@click.option("--state", "state_dir", required=True, type=click.Path(path_type=Path))
@click.option(
    "--pubkey",
    "pubkeys",
    multiple=True,
    required=True,
    type=click.File("r"),
    help="A file of the registry's verifier keys (one a line), pinned; may be repeated.",
)
@click.option("--witness-key", "witness_keys", multiple=True, help="Require its cosignature.")
@click.option("--token", envvar="REGISTRY_TOKEN", help="An API token (read scope).")
def ledger_monitor(
    url: str, state_dir: Path, pubkeys: tuple, witness_keys: tuple, token: str | None
) -> None:
    """Check the registry at URL only grew since the checkpoint held in DIR; keep the new one.

    Exit 1 with one line on any inconsistency (fork, rollback, a proof that fails)."""
    from registry.ledger.cosignature import parse_cosigner_key
    from registry.ledger.monitor import MonitorAlarm, http_fetch, monitor
    from registry.ledger.note import NoteError

    keys = [line.strip() for fh in pubkeys for line in fh if line.strip()]
    try:
        witnesses = [parse_cosigner_key(k) for k in witness_keys]
        old, new = monitor(http_fetch(url, token), state_dir, keys, witnesses)
    except NoteError as exc:
        raise click.ClickException(f"Bad key: {exc}") from None
    except MonitorAlarm as exc:
        click.echo(f"ALARM: {exc}")
        sys.exit(1)
    since = f"consistent with the held checkpoint of {old.size} events" if old else "first seen"
    click.echo(f"Checkpoint of {new.size} events ({new.origin}): {since}; kept.")


def _ensure_key_recorded(session, signer) -> None:  # type: ignore[no-untyped-def]
    from registry.ledger.key_events import key_recorded, record_key

    if not key_recorded(session, signer):
        record_key(session, CLI_ADMIN.label, signer)


keys_cli = AppGroup("keys", help="The ledger's signing key.")


@keys_cli.command("init")
@click.option("--if-missing", is_flag=True, help="Succeed quietly when the key exists.")
@click.option(
    "--origin",
    default=None,
    help="The ledger's origin, e.g. registry.example.org/ai-governance (default: "
    "REGISTRY_ORIGIN, else registry.example/ai-governance/<8 random hex>). Stored with "
    "the key: every checkpoint and pack uses it from then on.",
)
def keys_init(if_missing: bool, origin: str | None) -> None:
    """Create the signing key (REGISTRY_SIGNING_KEY) under the ledger's origin and record
    it in the ledger."""
    from registry.ledger.keys import (
        KeyFileError,
        OriginError,
        choose_origin,
        create_key,
        load_key,
    )

    path = Path(current_app.config["SIGNING_KEY_PATH"])
    if path.exists():
        if not if_missing:
            raise click.ClickException(
                f"{path} already exists; a signing key is never overwritten."
            )
        try:
            signer = load_key(path)
        except KeyFileError as exc:
            raise click.ClickException(str(exc)) from None
        if origin is not None and origin != signer.name:
            raise click.ClickException(
                f"The signing key {path} names the origin {signer.name!r}, not {origin!r}: "
                "the origin is chosen once, when the key is created."
            )
    else:
        source = "--origin" if origin else "REGISTRY_ORIGIN"
        try:
            name = choose_origin(origin, current_app.config["ORIGIN"])
        except OriginError as exc:
            click.echo(f"Error: {source}: {exc}.", err=True)
            sys.exit(2)
        try:
            signer = create_key(path, name)
        except KeyFileError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"Created signing key {path} (key id {signer.key_id}), origin {signer.name}.")
    session = db_session()
    _ensure_key_recorded(session, signer)
    session.commit()
    click.echo(f"Verifier key: {signer.verifier_key}")


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Replace the signing key: the old key co-signs a checkpoint naming the new one."""
    from registry.ledger.checkpoints import make_checkpoint
    from registry.ledger.key_events import record_key
    from registry.ledger.keys import KeyFileError, create_key, load_key, retire_key_file

    path = Path(current_app.config["SIGNING_KEY_PATH"])
    try:
        old = load_key(path)
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    session = db_session()
    # No automatic checkpoint in between: the rotation's must carry both signatures.
    session.info.pop("ledger", None)
    _ensure_key_recorded(session, old)
    staged = path.with_name(path.name + ".new")
    staged.unlink(missing_ok=True)
    new = create_key(staged, old.name)
    record_key(session, CLI_ADMIN.label, new, previous=old)
    try:
        make_checkpoint(session, new, cosigners=(old,))
    except RegistryError as exc:
        staged.unlink(missing_ok=True)
        _fail(exc)
    session.commit()
    # Only once the ledger holds the rotation do the files change places.
    retired = retire_key_file(path, old)
    staged.rename(path)
    click.echo(f"Rotated: old key {old.key_id} kept at {retired}; new key {new.key_id}.")
    click.echo(f"Verifier key: {new.verifier_key}")
    click.echo("Restart the application so that it signs with the new key.")


@click.command("demo")
@click.option(
    "--corpus",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The NL algorithm register folder (default: REGISTRY_DEMO_CORPUS).",
)
@click.option("--no-register", is_flag=True, help="Load only the users and the examples.")
def demo(corpus: Path | None, no_register: bool) -> None:
    """Load demo users, the NL algorithm register's history, and three example systems,
    whole or not at all; the examples' dates are moved to today. Run again, it adds
    only what is missing."""
    from registry.demo import nl_register
    from registry.demo.examples import EXAMPLES
    from registry.demo.loader import (
        ensure_demo_users,
        load_examples,
        read_credentials,
        write_credentials,
    )
    from registry.extensions import document_store
    from registry.records.models import AISystem
    from registry.records.search import count_systems

    session = db_session()
    credentials_file = Path(current_app.instance_path) / "demo_credentials.txt"
    passwords = read_credentials(credentials_file)
    actor = Actor.system("demo")
    corpus = corpus or Path(current_app.config["DEMO_CORPUS"])
    try:
        users = ensure_demo_users(session, passwords)
        has_nl = session.scalar(
            sa.select(AISystem.id)
            .where(AISystem.reference.like(nl_register.REFERENCE_PREFIX + "%"))
            .limit(1)
        )
        if not no_register and not has_nl:
            if not (corpus / "changes.jsonl.gz").exists():
                raise click.ClickException(f"No register change stream in {corpus}.")
            changes = list(nl_register.read_changes(corpus))
            with tqdm(
                total=len(changes),
                unit="change",
                desc="NL register",
                file=sys.stderr,
            ) as bar:
                nl_register.replay(session, actor, changes, progress=bar.update)
        loaded = load_examples(session, actor, EXAMPLES, store=document_store())
    except RegistryError as exc:
        session.rollback()
        click.echo("Nothing was loaded.", err=True)
        _fail(exc)
    except (KeyError, ValueError, TypeError, OSError, EOFError, zlib.error) as exc:
        # A broken change stream or example: refused as a whole, with what broke.
        session.rollback()
        raise click.ClickException(
            f"Nothing was loaded: the demo data is broken ({type(exc).__name__}: {exc})."
        ) from None
    except BaseException:
        session.rollback()
        raise
    # One commit for users, register and examples: a failure above leaves nothing.
    session.commit()
    write_credentials(credentials_file, passwords)
    click.echo(f"Demo data ready: {count_systems(session)} ({loaded} examples added now).")
    click.echo("Demo users (e-mail, role, password):")
    for email, role, password in users:
        click.echo(f"  {email:34} {role:20} {password}")


def _as_of(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} {exc}.") from None


EXPORT_BAR = "{desc}: {percentage:3.0f}%|{bar}|"


@click.command("export")
@with_appcontext
@click.argument("system", required=False)
@click.option("--all", "everything", is_flag=True, help="The whole registry, every system.")
@click.option("--as-of", "as_of", default=None, help="ISO 8601 instant (default: now).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the pack (default: REGISTRY_EXPORT_DIR, audit_exports/).",
)
@click.option(
    "--actor",
    default="cli",
    show_default=True,
    help="Who exports, as recorded in the ledger's export event.",
)
@click.option(
    "--oscal",
    is_flag=True,
    help="Instead of a pack: print SYSTEM's framework coverage as OSCAL assessment "
    "results (JSON), as of --as-of.",
)
def export_pack(
    system: str | None,
    everything: bool,
    as_of: str | None,
    out: Path | None,
    actor: str,
    oscal: bool,
) -> None:
    """Export the evidence pack of SYSTEM (or --all) and print its path."""
    from registry.exporting import export

    if bool(system) == everything:
        raise click.UsageError("Name one SYSTEM, or give --all for the whole registry.")
    instant = _as_of(as_of)
    exporter = Actor.system(actor, roles=frozenset({"auditor"}))
    if oscal:
        if system is None or out is not None:
            raise click.UsageError("--oscal takes one SYSTEM and prints to standard output.")
        session = db_session()
        try:
            require(session, exporter, "read")
            document = system_assessment_results(
                session, system, instant or dt.datetime.now(dt.UTC)
            )
        except RegistryError as exc:
            _fail(exc)
        click.echo(json.dumps(document, indent=1, ensure_ascii=False))
        return
    folder = out or Path(current_app.config["EXPORT_DIR"])
    # Shown once the pack's content is being made, past its first step (reading the
    # records): an export refused at once (an unknown system, an instant in the future)
    # shows no progress.
    bars: list[tqdm] = []
    started: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:
        if not started:
            started.append(stage)
            return
        if not bars:
            bars.append(tqdm(total=1, file=sys.stderr, bar_format=EXPORT_BAR))
        bar = bars[0]
        bar.set_description(stage, refresh=False)
        bar.total, bar.n = max(total, 1), done
        bar.refresh()

    session = db_session()
    read = database().read_sessionmaker()
    try:
        done = export(
            session,
            read,
            exporter,
            folder,
            pack_files(),
            references=[system] if system else None,
            as_of=instant,
            progress=progress,
        )
    except RegistryError as exc:
        _fail(exc)
    finally:
        read.close()
        for bar in bars:
            bar.close()
    for line in done.witness_lines():
        click.echo(line, err=True)
    click.echo(
        f"Exported {len(done.systems)} system(s) as of {done.as_of.isoformat()}: "
        f"{done.events} events, manifest {done.manifest_sha256}",
        err=True,
    )
    click.echo(str(done.path))


@click.command("verify-pack")
@click.argument("pack", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--pubkey",
    "pubkeys",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A file of trusted verifier keys (one a line); may be repeated.",
)
@click.option(
    "--witness-key",
    "witness_keys",
    multiple=True,
    help="A witness's verifier key whose cosignature the checkpoint must carry.",
)
@click.option(
    "--require-complete",
    is_flag=True,
    help="Fail unless the pack proves it holds every event of its systems.",
)
@click.option(
    "--known-checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A signed checkpoint kept from before: the pack's must be consistent with it.",
)
@click.option(
    "--consistency-proof",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The consistency proof between the two (the API's /ledger/consistency, JSON).",
)
@click.option("--system", metavar="REF", help="The pack must be the pack of this system.")
@click.option(
    "--scope",
    type=click.Choice(("system", "registry")),
    help="The pack must be of one system, or of the whole registry.",
)
@click.option("--as-of", metavar="INSTANT", help="The pack must be as of this instant.")
def verify_pack(
    pack: Path,
    pubkeys: tuple[Path, ...],
    witness_keys: tuple[str, ...],
    require_complete: bool,
    known_checkpoint: Path | None,
    consistency_proof: Path | None,
    system: str | None,
    scope: str | None,
    as_of: str | None,
) -> None:
    """Verify an evidence pack offline (what verify_pack.py does).

    Exit 0: VERIFIED under a pinned key (--pubkey); 3: consistent, but only under the
    keys the pack carries (nothing pinned); 1: a check failed, or the pack is not the
    one expected (--system, --scope, --as-of); 2: not a readable pack."""
    from registry.evidence import verifier

    args = [str(pack), *[a for key in pubkeys for a in ("--pubkey", str(key))]]
    args += [a for key in witness_keys for a in ("--witness-key", key)]
    args += ["--require-complete"] if require_complete else []
    args += ["--known-checkpoint", str(known_checkpoint)] if known_checkpoint else []
    args += ["--consistency-proof", str(consistency_proof)] if consistency_proof else []
    args += ["--system", system] if system is not None else []
    args += ["--scope", scope] if scope is not None else []
    args += ["--as-of", as_of] if as_of is not None else []
    sys.exit(verifier.main(args))


class _ReadinessGroup(AppGroup):
    """`registry readiness SYSTEM` shows a scorecard (the command `show`, the default);
    `registry readiness rebuild` makes the projection again."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["show", *args]
        return super().parse_args(ctx, args)


readiness = _ReadinessGroup(
    "readiness",
    help="A system's readiness scorecard (`registry readiness SYSTEM`, the command "
    "`show`), and the projection the lists read (`registry readiness rebuild`, "
    "`registry readiness refresh`).",
)


@readiness.command("rebuild")
def readiness_rebuild() -> None:
    """Make the readiness projection again from the records: every system scored now
    (it is never part of the ledger; reads keep it up to date as systems change)."""
    import time

    from registry.readiness.projection import rebuild

    session = db_session()
    started = time.perf_counter()
    count = rebuild(session, dt.datetime.now(dt.UTC))
    session.commit()
    click.echo(
        f"Readiness projection rebuilt: {count} systems in {time.perf_counter() - started:.1f} s."
    )


@readiness.command("refresh")
def readiness_refresh() -> None:
    """Bring the readiness projection up to date now, as the lists' first read would:
    the systems changed since it was last read and the rows whose day has passed,
    evaluated on a read session and stored in one short transaction; then the kept
    list of due items ("My tasks") from it. Every row's day ends at midnight UTC:
    `registry worker` runs this just after it."""
    import time

    from registry.jobs.tasks import refresh_readiness

    started = time.perf_counter()
    evaluated = refresh_readiness(current_app, dt.datetime.now(dt.UTC))
    click.echo(
        f"Readiness projection refreshed: {evaluated} systems evaluated in "
        f"{time.perf_counter() - started:.1f} s."
    )


@readiness.command("show")
@click.argument("system")
@click.option(
    "--require",
    type=click.Choice(["production"]),
    help="Exit 1 unless the system is ready for this stage (for deployment pipelines).",
)
@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"]),
    help="Score the system as it stood at this instant (ISO 8601 with a time zone).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole scorecard as JSON.")
def readiness_show(system: str, require: str | None, at: Any, as_json: bool) -> None:
    """Print SYSTEM's readiness scorecard; with --require, exit 1 when it is not ready."""
    import datetime as dt
    import json

    from registry.readiness import evaluate

    session = db_session()
    try:
        when = in_utc(at) if at is not None else dt.datetime.now(dt.UTC)
    except ValueError as exc:
        raise click.BadParameter(f"the instant {exc}.", param_hint="--at") from None
    try:
        scorecard = evaluate(session, system, when)
    except RegistryError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(scorecard.to_dict(), ensure_ascii=False, indent=2))
    else:
        verdict = "ready" if scorecard.ready else "NOT READY"
        click.echo(f"{system} ({scorecard.stage}) at {when.isoformat()}: {verdict} for production")
        for area in scorecard.areas:
            click.echo(f"  {area.status:8} {area.title}")
        for reason in scorecard.reasons():
            click.echo(f"- {reason}", err=True)
        click.echo(f"Approval: {scorecard.approval.status}")
    if require and not scorecard.ready:
        click.echo(f"{system} is not ready for {require}.", err=True)
        sys.exit(1)


@click.command("serve")
@click.option(
    "--host", default=server.DEFAULT_HOST, show_default=True, help="Address to listen on."
)
@click.option(
    "--port",
    default=server.DEFAULT_PORT,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="TCP port.",
)
@click.option(
    "--workers",
    default=server.DEFAULT_WORKERS,
    show_default=True,
    type=click.IntRange(min=1),
    help="Worker processes (each serves one request at a time).",
)
@click.option(
    "--timeout",
    default=server.DEFAULT_TIMEOUT,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds a request may take before its worker is restarted.",
)
@with_appcontext
def serve(host: str, port: int, workers: int, timeout: int) -> None:
    """Serve the registry with gunicorn, a production WSGI server (JSON log lines on
    standard error, one per request; metrics of every worker at /metrics)."""
    if workers > 1 and current_app.config["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        current_app.logger.warning(
            "REGISTRY_RATELIMIT_STORAGE_URI is memory://: each of the %d workers counts "
            "sign-in failures and exports on its own; share one store (redis://...) "
            "between workers and hosts",
            workers,
        )
    server.serve(
        host=host,
        port=port,
        workers=workers,
        timeout=timeout,
        metrics_dir=Path(current_app.config["METRICS_DIR"]),
        log_level=current_app.config["LOG_LEVEL"],
    )


@click.command("worker")
@click.option(
    "--threads",
    default=2,
    show_default=True,
    type=click.IntRange(min=1),
    help="Jobs run at once (worker threads).",
)
@click.option("--no-schedule", is_flag=True, help="Run queued jobs only, not the schedule.")
@click.option(
    "--nice",
    "niceness",
    default=10,
    show_default=True,
    type=click.IntRange(0, 19),
    help="Run at this lower CPU priority, so requests served on the same host come first.",
)
@with_appcontext
def worker(threads: int, no_schedule: bool, niceness: int) -> None:
    """Run the background jobs (exports) and the schedule (checkpoints on the time
    policy, document collection, recovery of jobs whose worker died) until stopped
    (SIGINT: finish the running jobs first; SIGTERM: at once, the jobs recovered by the
    next worker)."""
    import logging

    from registry.jobs.tasks import job_queue

    queue = job_queue(current_app._get_current_object())  # type: ignore[attr-defined]
    if queue.huey.immediate:
        raise click.ClickException(
            "REGISTRY_JOBS_BACKEND=immediate runs each job where it is asked for: no worker."
        )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if niceness:
        os.nice(niceness)
    click.echo(
        f"Worker: {threads} thread(s) on the {current_app.config['JOBS_BACKEND']} queue "
        f"{current_app.config['JOBS_QUEUE']!r}",
        err=True,
    )
    queue.huey.create_consumer(
        workers=threads,
        worker_type="thread",
        periodic=not no_schedule,
        initial_delay=0.05,
        max_delay=1.0,
        flush_locks=True,  # a lock a killed worker held (jobs.tasks.REFRESH_LOCK)
    ).run()


def _no_registry(exc: Exception) -> str | None:
    """What ``exc`` says when there is no registry where the database URL points: no
    SQLite file there, or a database without the registry's schema (None: anything
    else)."""
    if isinstance(exc, NoDatabaseFile):
        said = f"{exc} (run registry db upgrade to create one)."
    elif isinstance(exc, sa.exc.DBAPIError) and no_schema(exc):
        said = unreadable(exc)
    else:
        return None
    return said[:1].upper() + said[1:]


def _reporting_outages(command: click.Command) -> None:
    """Make ``command`` (and a group's commands) end on an unavailable database, or on
    no registry where the database URL points, with one line and exit status 2, not a
    traceback. Wraps each callback once."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _reporting_outages(sub)
        return
    callback = command.callback
    if callback is None or getattr(callback, "reports_outages", False):
        return

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return callback(*args, **kwargs)
        except Exception as exc:
            missing = _no_registry(exc)
            if missing is not None:
                click.echo(f"Error: {missing}", err=True)
                sys.exit(EXIT_UNAVAILABLE)
            error = unavailable(exc, changing=True, retry_after=None, what="command")
            if error is None:
                raise
            _fail_unavailable(error)

    run.reports_outages = True  # type: ignore[attr-defined]
    command.callback = run


documents_cli = AppGroup("documents", help="Evidence documents: add one, collect unattached ones.")


def _refuse(exc: RegistryError) -> NoReturn:
    """Bad input or a refusal: one line, exit 2."""
    if isinstance(exc, DatabaseUnavailable):
        _fail_unavailable(exc)
    click.echo(f"Error: {_refusal(exc)}", err=True)
    sys.exit(2)


@documents_cli.command("add")
@click.argument("system")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--title", default=None, help="What the document is, in a few words.")
@click.option("--type", "document_type", default="other", show_default=True)
@click.option("--valid-until", default=None, help="Its last day in force (YYYY-MM-DD).")
@click.option("--withheld", is_flag=True, help="Confidential: packs carry its hash only.")
@click.option("--actor", default="cli", show_default=True, help="Who adds it, in the ledger.")
def documents_add(
    system: str,
    file: Path,
    title: str | None,
    document_type: str,
    valid_until: str | None,
    withheld: bool,
    actor: str,
) -> None:
    """Add FILE as a document of SYSTEM and print its SHA-256."""
    from registry.documents.service import Upload, receive
    from registry.extensions import document_store
    from registry.records.reads import get_system

    session = db_session()
    store = document_store()
    uploader = Actor.system(actor)
    upload = Upload(
        name=file.name,
        media_type=mimetypes.guess_type(file.name)[0],
        title=title,
        document_type=document_type,
        valid_until=valid_until,
        withheld=withheld,
    )
    try:
        found = get_system(session, system)
        staged = store.stage(current_app.config["DOCUMENT_MAX_BYTES"])
        try:
            with file.open("rb") as fh:
                staged.copy_from(fh)
        except BaseException:
            staged.discard()
            raise
        received = receive(session, uploader, found, store, staged, upload)
    except RegistryError as exc:
        session.rollback()
        _refuse(exc)
    session.commit()
    document = received.document
    said = "received" if received.new else "already received"
    click.echo(f"{document.sha256}  {document.name} ({document.size} bytes, {said})")


@documents_cli.command("withhold")
@click.argument("system")
@click.argument("sha256")
@click.option("--release", is_flag=True, help="No longer withheld: packs carry its file again.")
@click.option("--actor", default="cli", show_default=True, help="Who decides, in the ledger.")
def documents_withhold(system: str, sha256: str, release: bool, actor: str) -> None:
    """Withhold SYSTEM's document SHA256 from packs (confidential: hash and metadata
    only), or with --release carry its file again; recorded in the ledger."""
    from registry.documents.service import set_withheld
    from registry.records.reads import get_system

    session = db_session()
    try:
        found = get_system(session, system)
        document = set_withheld(session, Actor.system(actor), found, sha256, not release)
    except RegistryError as exc:
        session.rollback()
        _refuse(exc)
    session.commit()
    said = "withheld from packs" if document.withheld else "carried in packs"
    click.echo(f"{document.sha256}  {document.name}: {said}")


def _hours(value: str) -> float:
    text = value.strip().lower()
    factor = {"h": 1.0, "m": 1 / 60, "d": 24.0}.get(text[-1:], None)
    number = text[:-1] if factor is not None else text
    try:
        hours = float(number) * (factor or 1.0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration such as 24h, 90m or 2d.") from None
    if not 0 <= hours < 1e6:
        raise click.BadParameter(f"{value!r} is not a duration such as 24h, 90m or 2d.")
    return hours


@documents_cli.command("gc")
@click.option(
    "--grace",
    default=None,
    help="Keep uploads younger than this (24h, 90m, 2d; default REGISTRY_DOCUMENT_GC_GRACE_HOURS).",
)
def documents_gc(grace: str | None) -> None:
    """Delete the bytes of documents no entry version refers to, once older than the grace
    period; their rows stay, marked collected, and the ledger records it."""
    from registry.extensions import document_store
    from registry.jobs.tasks import collect_unattached

    hours = _hours(grace) if grace else current_app.config["DOCUMENT_GC_GRACE_HOURS"]
    session = db_session()
    try:
        done, removed = collect_unattached(session, document_store(), dt.timedelta(hours=hours))
    except RegistryError as exc:
        session.rollback()
        _refuse(exc)
    click.echo(
        f"Collected {len(done.documents)} unattached documents; removed {removed} blobs "
        f"and {done.parts} unfinished uploads."
    )


@click.command("import")
@with_appcontext
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--dry-run", is_flag=True, help="List what would change and every error; write nothing."
)
@click.option(
    "--map",
    "mapping",
    multiple=True,
    metavar="HEADER=FIELD",
    help="Read the column HEADER as FIELD (a profile field, or business_owner_name, "
    "business_owner_email, technical_owner_name, technical_owner_email); may be repeated.",
)
@click.option("--actor", default="cli", show_default=True, help="Who imports, as recorded.")
def import_sheet(file: Path, dry_run: bool, mapping: tuple[str, ...], actor: str) -> None:
    """Import an inventory of AI systems from a CSV or XLSX FILE (one row per system):
    versioned creates and updates with one reason naming the file's SHA-256. Importing
    the same file again changes nothing. With errors, nothing is written (exit 1)."""
    session = db_session()
    importer = Actor.system(actor, roles=frozenset({"compliance_officer"}))
    try:
        found = sheets_import.plan(
            session, file.read_bytes(), file.name, sheets_import.parse_mapping(mapping)
        )
    except RegistryError as exc:
        _refuse(exc)
    for error in found.errors:
        click.echo(f"row {error.row}, column {error.column}: {error.message}", err=True)
    counts = found.counts()
    summary = ", ".join(f"{n} {action}" for action, n in counts.items())
    if found.errors:
        click.echo(f"{len(found.errors)} error(s) in {file.name}: nothing imported.", err=True)
        sys.exit(1)
    if dry_run:
        click.echo(f"Dry run of {file.name} (SHA-256 {found.sha256}): would {summary}.")
        session.rollback()
        return
    try:
        sheets_import.apply(session, importer, found)
    except RegistryError as exc:
        session.rollback()
        _refuse(exc)
    session.commit()
    click.echo(f"Imported {file.name} (SHA-256 {found.sha256}): {summary}.")


notify_cli = AppGroup(
    "notify", help="Reminders and notifications: queue what fell due, send the outbox."
)


@notify_cli.command("scan")
@click.option("--at", default=None, help="As of this instant (ISO 8601; default now).")
def notify_scan(at: str | None) -> None:
    """Queue a reminder of everything due (once per item, recipient and channel) and a
    webhook message for each record change recorded since the last scan."""
    from registry.jobs.tasks import scan_notifications

    now = _as_of(at) or dt.datetime.now(dt.UTC)
    found = scan_notifications(current_app, db_session(), now)
    click.echo(
        f"{found.items} items due; queued {found.queued} reminders and "
        f"{found.changes} change notifications."
    )


@notify_cli.command("deliver")
@click.option("--at", default=None, help="As of this instant (ISO 8601; default now).")
def notify_deliver(at: str | None) -> None:
    """Send what the outbox holds: e-mails, yesterday's digests, webhooks (failures are
    retried with backoff by later runs)."""
    from registry.jobs.tasks import deliver_notifications

    now = _as_of(at) or dt.datetime.now(dt.UTC)
    done = deliver_notifications(current_app, db_session(), now)
    click.echo(f"Sent {done.sent}; {done.retrying} to retry; {done.failed} failed.")


@notify_cli.command("rebuild")
def notify_rebuild() -> None:
    """Make the kept list of due items ("My tasks") again from the records, for the
    configured horizon (it is never part of the ledger; reads keep it up to date)."""
    session = db_session()
    started = time.perf_counter()
    ahead = dt.timedelta(days=current_app.config["NOTIFY_DAYS_AHEAD"])
    count = due_list.rebuild(session, dt.datetime.now(dt.UTC), ahead)
    session.commit()
    click.echo(f"Due items rebuilt: {count} items in {time.perf_counter() - started:.1f} s.")


search_cli = AppGroup("search", help="The systems' search index (full-text search, list order).")


@search_cli.command("rebuild")
def search_rebuild() -> None:
    """Make the search index again from the records (writes keep it up to date; it is
    never part of the ledger)."""
    session = db_session()
    started = time.perf_counter()
    count = search_index.rebuild(session)
    session.commit()
    click.echo(f"Search index rebuilt: {count} systems in {time.perf_counter() - started:.1f} s.")


def register_commands(app: Flask) -> None:
    for command in (
        db_cli,
        users_cli,
        tokens_cli,
        ledger_cli,
        keys_cli,
        demo,
        readiness,
        search_cli,
        export_pack,
        verify_pack,
        documents_cli,
        import_sheet,
        notify_cli,
        serve,
        worker,
    ):
        _reporting_outages(command)
        app.cli.add_command(command)


witness_cli = click.Group(
    "witness", help="A witness of other logs' checkpoints (c2sp.org/tlog-witness); no database."
)


@witness_cli.command("init")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path))
@click.option("--name", required=True, help="The witness's name, e.g. witness.example/w1.")
def witness_init(key_path: Path, name: str) -> None:
    """Create a witness key in FILE (mode 0600) and print its verifier key."""
    from registry.witness.state import WitnessSetupError, create_witness_key

    try:
        signer = create_witness_key(key_path, name)
    except WitnessSetupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(signer.cosigner.vkey)


@witness_cli.command("serve")
@click.option("--key", "key_path", required=True, type=click.Path(path_type=Path))
@click.option("--state", "state_dir", required=True, type=click.Path(path_type=Path))
@click.option("--host", default=server.DEFAULT_HOST, show_default=True)
@click.option("--port", default=5100, show_default=True, type=click.IntRange(1, 65535))
@click.option("--log", "log_keys", multiple=True, help="A followed log's verifier key.")
@click.option(
    "--logs",
    "logs_file",
    type=click.File("r"),
    help="A file of followed logs' verifier keys, one a line.",
)
def witness_serve(
    key_path: Path, state_dir: Path, host: str, port: int, log_keys: tuple, logs_file: Any
) -> None:
    """Serve the witness (POST /add-checkpoint) with gunicorn, one worker."""
    from registry.witness.server import Witness, serve_witness
    from registry.witness.state import (
        WitnessSetupError,
        WitnessState,
        load_witness_key,
        parse_logs,
    )

    vkeys = list(log_keys)
    if logs_file is not None:
        vkeys += [line.strip() for line in logs_file if line.strip()]
    try:
        witness = Witness(load_witness_key(key_path), parse_logs(vkeys), WitnessState(state_dir))
    except WitnessSetupError as exc:
        raise click.ClickException(str(exc)) from None
    serve_witness(witness, host, port)


def command_app(config: dict[str, Any] | None = None) -> Flask:
    """The application the command line runs its commands on: ``create_app``'s, with
    the commands added (the factory knows nothing of the command line). It opens an
    existing database only: a SQLite file that is not there is reported, never made
    (``registry db upgrade`` makes it, through the migrations' own engine)."""
    app = create_app({"DATABASE_CREATE_FILE": False, **(config or {})})
    register_commands(app)
    return app


main = FlaskGroup(
    create_app=command_app, help="The AI governance evidence registry.", load_dotenv=False
)
main.add_command(witness_cli)  # needs no application: served without one


if __name__ == "__main__":
    main()
