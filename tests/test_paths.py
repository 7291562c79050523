"""Where the registry finds what it ships and keeps what it makes, run from a checkout
(tests/test_wheel.py runs the installed wheel)."""

from __future__ import annotations

from pathlib import Path

import registry
from registry import migrate, paths
from registry.config import load_config
from registry.demo import nl_register

CHECKOUT = Path(__file__).resolve().parent.parent
PACKAGE = Path(registry.__file__).resolve().parent


def test_the_register_corpus_ships_inside_the_package(monkeypatch):
    monkeypatch.delenv("REGISTRY_DEMO_CORPUS", raising=False)
    corpus = Path(load_config()["DEMO_CORPUS"])
    assert corpus.is_relative_to(PACKAGE)
    assert {p.name for p in corpus.iterdir()} >= {"changes.jsonl.gz", "snapshots.json", "README.md"}
    readme = (corpus / "README.md").read_text()
    assert "algoritmes.overheid.nl" in readme and "CC0" in readme
    assert sum(s["changes"] for s in nl_register.read_snapshots(corpus)) == 4525
    assert next(iter(nl_register.read_changes(corpus)))["op"] == "add"


def test_a_checkout_keeps_its_defaults_in_the_checkout(monkeypatch, tmp_path):
    for name in ("REGISTRY_INSTANCE_PATH", "REGISTRY_EXPORT_DIR", "REGISTRY_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # the working directory does not matter in a checkout
    assert paths.SOURCE_TREE == CHECKOUT
    config = load_config()
    assert config["INSTANCE_PATH"] == str(CHECKOUT / "instance")
    assert config["EXPORT_DIR"] == str(CHECKOUT / "audit_exports")
    assert config["DATABASE_URL"] == f"sqlite:///{CHECKOUT / 'instance' / 'registry.sqlite3'}"
    assert migrate.MIGRATIONS == CHECKOUT / "migrations"


def test_templates_and_static_files_come_from_the_checkout(app):
    assert Path(app.template_folder) == CHECKOUT / "templates"
    assert Path(app.static_folder) == PACKAGE / "web" / "static"
    client = app.test_client()
    assert client.get("/login").status_code == 200
    css = client.get("/static/registry.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    css.close()
