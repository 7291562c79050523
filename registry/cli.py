"""The ``registry`` command: a Flask CLI group (``registry --help``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup
from tqdm import tqdm

from registry.accounts.actor import Actor
from registry.errors import RegistryError
from registry.extensions import db_session

CLI_ADMIN = Actor.system("cli", roles=frozenset({"admin"}))


def _fail(exc: RegistryError) -> None:
    details = getattr(exc, "field_errors", None) or exc.details.get("errors")
    message = exc.message + (f" {details}" if details else "")
    raise click.ClickException(message)


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
            days=days or current_app.config["TOKEN_DEFAULT_DAYS"],
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


ledger_cli = AppGroup("ledger", help="The audit ledger.")


@ledger_cli.command("verify")
def ledger_verify() -> None:
    """Check every event's hash and the chain; exit non-zero at the first problem."""
    from registry.ledger.chain import verify_chain
    from registry.ledger.models import AuditEvent
    from registry.ledger.store import iter_events

    session = db_session()
    total = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) or 0
    started = time.perf_counter()
    with tqdm(total=total, unit="event", disable=total < 10_000, file=sys.stderr) as bar:

        def events():  # type: ignore[no-untyped-def]
            for row in iter_events(session):
                bar.update(1)
                yield row

        report = verify_chain(events())
    elapsed = time.perf_counter() - started
    if not report.ok:
        raise click.ClickException(
            f"Ledger broken at {report.problem} ({report.checked} events before it are intact)."
        )
    rate = report.checked / elapsed if elapsed > 0 else float("inf")
    click.echo(
        f"Ledger intact: {report.checked} events, hashes and chain checked "
        f"in {elapsed:.2f} s ({rate:,.0f} events/s); head {report.head}."
    )


@click.command("demo")
@click.option(
    "--corpus",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The NL algorithm register folder (default: REGISTRY_DEMO_CORPUS).",
)
@click.option("--no-register", is_flag=True, help="Load only the users and the examples.")
def demo(corpus: Path | None, no_register: bool) -> None:
    """Load demo users, the NL algorithm register's history, and three example systems."""
    from registry.demo import nl_register
    from registry.demo.examples import EXAMPLES
    from registry.demo.loader import ensure_demo_users, load_examples
    from registry.records.models import AISystem

    session = db_session()
    users = ensure_demo_users(session, Path(current_app.instance_path) / "demo_credentials.txt")
    session.commit()
    actor = Actor.system("demo")
    corpus = corpus or Path(current_app.config["DEMO_CORPUS"])
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
            try:
                nl_register.replay(session, actor, changes, progress=bar.update)
            except RegistryError as exc:
                _fail(exc)
    try:
        loaded = load_examples(session, actor, EXAMPLES)
    except RegistryError as exc:
        _fail(exc)
    session.commit()
    systems = session.scalar(sa.select(sa.func.count()).select_from(AISystem))
    click.echo(f"Demo data ready: {systems} systems ({loaded} examples added now).")
    click.echo("Demo users (e-mail, role, password):")
    for email, role, password in users:
        click.echo(f"  {email:34} {role:20} {password}")


def register_commands(app: Flask) -> None:
    for command in (db_cli, users_cli, tokens_cli, ledger_cli, demo):
        app.cli.add_command(command)


def _create_app() -> Flask:
    from registry import create_app

    return create_app()


main = FlaskGroup(
    create_app=_create_app, help="The AI governance evidence registry.", load_dotenv=False
)
