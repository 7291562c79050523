"""Password hashing: nothing is hashed while a process starts, and a sign-in with an
unknown e-mail does the same hashing work as one with a known e-mail."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

from registry.accounts.service import authenticate
from tests.conftest import PASSWORD


def _scrypt_calls(monkeypatch) -> list[tuple[int, int, int]]:
    """Record (n, r, p) of every scrypt the process runs from now on (the real one runs)."""
    calls: list[tuple[int, int, int]] = []
    real = hashlib.scrypt

    def counted(password, *, salt, n, r, p, **kwargs):
        calls.append((n, r, p))
        return real(password, salt=salt, n=n, r=r, p=p, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    return calls


def test_building_the_app_hashes_no_password(database_url, tmp_path):
    """A worker is ready without running scrypt: importing the registry and building
    the app hash nothing (the hash for unknown e-mails is a constant)."""
    program = textwrap.dedent(
        f"""
        import hashlib
        calls = []
        real = hashlib.scrypt
        def counted(*args, **kwargs):
            calls.append(1)
            return real(*args, **kwargs)
        hashlib.scrypt = counted
        from registry import create_app
        create_app({{
            "DATABASE_URL": {database_url!r},
            "INSTANCE_PATH": {str(tmp_path / "instance")!r},
            "SECRET_KEY": "test",
        }})
        print(len(calls))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "0", result.stderr


def test_unknown_email_costs_one_hash_like_a_known_one(session, users, monkeypatch):
    calls = _scrypt_calls(monkeypatch)
    assert authenticate(session, users["auditor"].email, "not the password") is None
    known = list(calls)
    calls.clear()
    assert authenticate(session, "nobody@example.org", PASSWORD) is None
    # the same scrypt parameters: the constant hash was made as generate_password_hash
    # makes them today (were werkzeug's default to change, make the constant again)
    assert calls == known and len(known) == 1
