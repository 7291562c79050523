"""Serving the registry in production: gunicorn, embedded through its documented
custom-application interface (``gunicorn.app.base.BaseApplication``).

The master process only binds the socket and watches the workers; each worker builds
its own application with :func:`serving_app` after the fork, so no database
connection is ever shared between processes. Under ``registry serve`` the master has
imported every module ``create_app()`` needs before it forks (the command line built
an application to look the command up; that application never connects) and frozen
them (``gc.freeze``, in gunicorn's ``pre_fork`` hook), so a worker that replaces a dead
one imports nothing and its collection walks only what it builds itself
(tests/test_serve.py holds both).
``gunicorn 'registry.server:serving_app()'`` (or the checkout's ``wsgi:app``) serves
the same application for those who run gunicorn themselves; its workers import
everything. ``'registry:create_app()'`` serves it too, without :func:`serving_app`'s
freeze of what start-up left alive.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from registry import create_app, logs, metrics

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
DEFAULT_WORKERS = 3
DEFAULT_TIMEOUT = 60


def bind_address(host: str, port: int) -> str:
    """gunicorn's ``bind`` for a host name or address and a port (IPv6 in brackets)."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def serving_app() -> Flask:
    """The app as a server's worker runs it (``registry serve``, ``gunicorn wsgi:app``):
    built, then what start-up left alive (the modules, the app, its schemas, mappers
    and templates: about 200,000 objects) set aside from the garbage collector
    (``gc.freeze``, after a collection of start-up's garbage). A full collection
    otherwise walks all of them each time it runs: measured in process, about 0.13 ms
    per API write on average and a pause of tens of milliseconds for the request that
    meets it; frozen, what requests allocate is collected as before. It opens an
    existing SQLite file only, as the command line does: a mistyped database URL leaves
    no empty database behind (only ``registry db upgrade`` makes one)."""
    app = create_app({"DATABASE_CREATE_FILE": False})
    _set_aside()
    return app


def _set_aside() -> None:
    """Collect what is garbage, then move every object still alive out of the
    collector's generations (``gc.freeze``): later collections no longer walk them."""
    gc.collect()
    gc.freeze()


class RegistryServer(BaseApplication):  # type: ignore[misc]
    """The registry under gunicorn, with settings given in code (no config file, no
    command-line parsing of gunicorn's own)."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.settings.items():
            self.cfg.set(name, value)
        # Recent gunicorn releases open a control socket at one path per user (~/.gunicorn),
        # which two registries on one machine would contend for; the registry needs none.
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)

    def load(self) -> Flask:
        return serving_app()


def _child_exit(_server: Any, worker: Any) -> None:
    metrics.worker_exited(worker.pid)


def _pre_fork(_server: Any, _worker: Any) -> None:
    """In the master, before each worker is forked: what it holds (every module the app
    needs, imported before the first fork) is set aside from the collector as
    :func:`serving_app` does in the worker, whose collection then walks only what the
    worker built itself (a new worker starts about 0.1 s sooner), and whose collections
    leave the pages shared with the master alone."""
    _set_aside()


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    workers: int = DEFAULT_WORKERS,
    timeout: int = DEFAULT_TIMEOUT,
    metrics_dir: Path | None = None,
    log_level: str = "INFO",
) -> None:
    """Serve until stopped (SIGTERM: the workers finish their requests; SIGINT: at once).

    The workers' metrics are counted in ``metrics_dir`` (emptied first), which /metrics
    adds up; the app logs one JSON line per request, so gunicorn's access log is off and
    its own lines are JSON too."""
    if metrics_dir is not None:
        metrics.use_folder(metrics_dir)
    RegistryServer(
        {
            "bind": bind_address(host, port),
            "workers": workers,
            "timeout": timeout,
            "accesslog": None,
            "errorlog": "-",
            "logconfig_dict": logs.gunicorn_logging(log_level),
            "child_exit": _child_exit,
            "pre_fork": _pre_fork,
            "proc_name": "registry",
        }
    ).run()
