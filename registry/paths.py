"""Where the registry finds the files it ships (templates, migrations, static files,
demo data) and where it keeps what it makes by default (the instance folder, evidence
packs): in a source checkout and in an installed wheel alike.

A checkout keeps ``templates/`` and ``migrations/`` at its top level, beside
``registry/``; the wheel carries them inside the package (``registry/templates``,
``registry/migrations``). What the registry makes goes into the checkout when it runs
from one, and into the current working directory when it is installed.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# The source tree this package runs from, or None when it is installed (site-packages
# holds no pyproject.toml beside the package).
SOURCE_TREE: Path | None = PACKAGE.parent if (PACKAGE.parent / "pyproject.toml").is_file() else None
STATIC = PACKAGE / "web" / "static"
DEMO_CORPUS = PACKAGE / "demo" / "data" / "nl-algorithm-register"


def shipped(name: str) -> Path:
    """The folder ``name`` (``templates`` or ``migrations``): at the top of the
    checkout, or inside the installed package."""
    return (SOURCE_TREE or PACKAGE) / name


def working_folder() -> Path:
    """The folder relative defaults live in: the checkout, or, installed, the current
    working directory (so nothing is ever written into site-packages)."""
    return SOURCE_TREE or Path.cwd()
