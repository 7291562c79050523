"""The wheel works outside the checkout: built without network, installed (not
editable) into a fresh virtual environment, and run from an empty folder: migrate,
keys, demo users and systems, the server, an evidence pack and its verification.

The fresh environment takes the registry's dependencies from the project's own
environment through a ``.pth`` file (whose own ``.pth`` files, among them the
checkout's editable install, are not processed), so only ``registry`` itself comes
from the wheel. SQLite suffices: the point is where files are found and written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest

from tests.serving import free_port, served

CHECKOUT = Path(__file__).resolve().parent.parent
SHIPPED = {
    "registry": "registry",
    "templates": "registry/templates",
    "migrations": "registry/migrations",
}
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


def _files(folder: Path) -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the wheel installed in it."""
    base = tmp_path_factory.mktemp("wheel")
    # Built from a copy, so the build leaves nothing in the checkout.
    source = base / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, source / name)
    for name in SHIPPED:
        shutil.copytree(CHECKOUT / name, source / name, ignore=IGNORED)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run(
        [
            *pip,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            "dist",
            str(source),
        ],
        base,
    )
    (wheel,) = (base / "dist").glob("ai_governance_registry-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", "venv"], base)
    python = base / "venv" / "bin" / "python"
    _run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], base)
    # Only now do the project's dependencies become visible to the fresh environment.
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], base
    )
    Path(purelib.strip(), "project-dependencies.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n"
    )
    return base / "venv"


@pytest.fixture
def env(venv: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
        keep.pop(name, None)
    keep["PATH"] = f"{venv / 'bin'}{os.pathsep}{keep.get('PATH', '')}"
    return keep


def test_the_installed_wheel_is_not_the_checkout(venv, env, tmp_path):
    where = json.loads(
        _run(
            [
                str(venv / "bin" / "python"),
                "-c",
                "import json, sys, registry, registry.paths as p, registry.migrate as m\n"
                "from registry.config import load_config\n"
                "c = load_config()\n"
                "print(json.dumps({'file': registry.__file__, 'path': sys.path,"
                " 'tree': str(p.SOURCE_TREE), 'migrations': str(m.MIGRATIONS),"
                " 'instance': c['INSTANCE_PATH'], 'exports': c['EXPORT_DIR'],"
                " 'corpus': c['DEMO_CORPUS']}))",
            ],
            tmp_path,
            env,
        )
    )
    package = Path(where["file"]).parent
    assert package.is_relative_to(venv), where["file"]
    # The checkout is not on the path; the project's environment only lends dependencies.
    lender = sysconfig.get_paths()["purelib"]
    assert all(not Path(p).is_relative_to(CHECKOUT) for p in where["path"] if p != lender)
    assert where["tree"] == "None"
    assert Path(where["migrations"]) == package / "migrations"
    # Installed, what the registry makes goes into the working directory.
    assert where["instance"] == str(tmp_path / "instance")
    assert where["exports"] == str(tmp_path / "audit_exports")
    assert Path(where["corpus"]) == package / "demo" / "data" / "nl-algorithm-register"
    # Every module, template, migration, static file and data file of the checkout.
    installed = _files(package)
    for folder, inside in SHIPPED.items():
        prefix = inside.removeprefix("registry").lstrip("/")
        expected = {f"{prefix}/{f}" if prefix else f for f in _files(CHECKOUT / folder)}
        assert expected - installed == set(), f"missing from the wheel: {expected - installed}"


def test_the_installed_wheel_runs_from_an_empty_folder(venv, env, tmp_path):
    registry = str(venv / "bin" / "registry")
    work = tmp_path / "empty"
    work.mkdir()
    assert "Database at head." in _run([registry, "db", "upgrade"], work, env)
    assert (work / "instance" / "registry.sqlite3").is_file()
    keys = _run([registry, "keys", "init"], work, env)
    verifier_key = keys.split("Verifier key: ")[1].strip()
    (tmp_path / "trusted.keys").write_text(verifier_key + "\n")
    demo = _run([registry, "demo", "--no-register"], work, env)
    assert "officer@demo" in demo and "compliance_officer" in demo

    port = free_port()
    command = [registry, "serve", "--port", str(port), "--workers", "1"]
    with served(command, port, env, work) as run:
        with urllib.request.urlopen(f"{run.url}/login") as page:
            assert page.status == 200 and 'name="csrf_token"' in page.read().decode()
        with urllib.request.urlopen(f"{run.url}/static/registry.css") as css:
            assert css.status == 200 and css.headers.get_content_type() == "text/css"
            assert len(css.read()) > 100
        with urllib.request.urlopen(f"{run.url}/api/docs/own/docs.js") as script:
            assert script.status == 200
    assert run.process.returncode == 0, run.errors
    requests = [
        json.loads(line) for line in run.errors.splitlines() if '"registry.requests"' in line
    ]
    assert ("GET", "/login", 200) in [(r["method"], r["endpoint"], r["status"]) for r in requests]

    pack = Path(_run([registry, "export", "demo-benefits-triage"], work, env).splitlines()[-1])
    assert pack.is_file() and pack.parent == work / "audit_exports"
    verified = _run(
        [registry, "verify-pack", str(pack), "--pubkey", str(tmp_path / "trusted.keys")], work, env
    )
    assert "verified" in verified.lower()
    # Nothing was written into the installed package.
    package = next((venv / "lib").glob("python3*/site-packages/registry"))
    assert not {"instance", "audit_exports"} & {p.name for p in package.rglob("*")}
