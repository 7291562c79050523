"""Running Alembic from the application: the only way the schema is created or changed."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection

from registry.paths import shipped

MIGRATIONS = shipped("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # '%' would be read as interpolation by configparser.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def check(url: str) -> None:
    """Raise if the models and the migrations disagree (``alembic check``)."""
    command.check(alembic_config(url))


def upgrade_on(connection: Connection, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` on ``connection``, inside the transaction
    it has begun (the caller commits or rolls back everything at once)."""
    cfg = alembic_config(connection.engine.url.render_as_string(hide_password=False))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def head_revision() -> str | None:
    """The revision the code's migrations end at."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def known_revision(revision: str) -> bool:
    """Whether ``revision`` is one of the code's migrations."""
    try:
        return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(connection: Connection) -> str | None:
    """The revision the database on ``connection`` is at (None: never migrated)."""
    return MigrationContext.configure(connection).get_current_revision()
