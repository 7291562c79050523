"""The one password policy: length, and not one of the most common passwords.

The list of common passwords ships in the package (``data/common-passwords.txt.gz``;
its source and licence are in ``data/README.md``) and is read once per process, when a
password is first checked.
"""

from __future__ import annotations

import gzip
from functools import cache
from importlib.resources import files

MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # the longest password a sign-in reads


@cache
def common_passwords() -> frozenset[str]:
    """The common passwords, lowercased."""
    data = files("registry.accounts").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode().splitlines())


def password_problem(password: str) -> str | None:
    """Why ``password`` may not be anyone's password, or None: the one policy of every
    password, however it is set (created, changed by its user, set by an administrator,
    through a reset link or by ``registry users password``)."""
    if len(password) < MIN_PASSWORD:
        return f"At least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"At most {MAX_PASSWORD} characters."
    if password.strip().lower() in common_passwords():
        return "This is one of the most common passwords: choose another."
    return None
