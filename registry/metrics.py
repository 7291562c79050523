"""Prometheus metrics (prometheus-client): what the app counts, and the exposition
``/metrics`` serves.

Under ``registry serve`` the workers are separate processes: their counts go to files
in one folder (prometheus-client's multiprocess mode, ``use_folder``) and a scrape adds
them up. Every metric here has labels, so no value is made before a worker's first
request, after the mode is set. The ledger's figures are read from the database at
each scrape, never counted in a process.
"""

from __future__ import annotations

import datetime as dt
import hmac
import ipaddress
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

REQUEST_SECONDS = Histogram(
    "registry_request_duration_seconds",
    "Time to answer a request, by endpoint (the URL rule), method and status.",
    ["endpoint", "method", "status"],
)
WRITES = Counter(
    "registry_writes",
    "Ledger events committed, by action and entry kind (empty for events of no entry).",
    ["action", "kind"],
)
REFUSALS = Counter(
    "registry_refusals",
    "Requests refused (an answer of 400 to 499), by the refusal's kind and status.",
    ["kind", "status"],
)


def use_folder(folder: Path) -> None:
    """Multiprocess mode: every process started from now on keeps its counts as files in
    ``folder``, emptied first (counts of processes of an earlier run would otherwise be
    added in). Called by ``registry serve`` in the master, before the workers fork."""
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROC_VARIABLE] = str(folder)
    # prometheus-client reads the variable when it is imported, which the master has
    # done before it knew it would serve; the metrics' values, made per label set in
    # the workers, take the class in force then.
    values.ValueClass = values.get_value_class()


def worker_exited(pid: int) -> None:
    """Forget a dead worker's live gauges (gunicorn's ``child_exit``); its counters stay."""
    if os.environ.get(MULTIPROC_VARIABLE):
        multiprocess.mark_process_dead(pid)


def request_answered(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(endpoint, method, str(status)).observe(seconds)


def refused(kind: str, status: int) -> None:
    REFUSALS.labels(kind, str(status)).inc()


def committed(events: Iterable[tuple[str, str]]) -> None:
    for action, kind in events:
        WRITES.labels(action, kind).inc()


class _Ledger(Collector):
    def __init__(
        self,
        size: int,
        latest_checkpoint_at: dt.datetime | None,
        now: dt.datetime,
        jobs: dict[str, int],
    ):
        self.size = size
        self.made = latest_checkpoint_at
        self.now = now
        self.jobs = jobs

    def collect(self) -> Iterator[Any]:
        yield GaugeMetricFamily(
            "registry_ledger_events", "Events in the audit ledger.", value=self.size
        )
        made = self.made
        age = GaugeMetricFamily(
            "registry_latest_checkpoint_age_seconds",
            "Seconds since the latest signed checkpoint was made (absent before the first).",
        )
        if made is not None:
            age.add_metric([], max(0.0, (self.now - made).total_seconds()))
        yield age
        jobs = GaugeMetricFamily(
            "registry_jobs",
            "Background jobs by state (queued, running, finished, failed), from their rows.",
            labels=["state"],
        )
        for state, count in sorted(self.jobs.items()):
            jobs.add_metric([state], count)
        yield jobs


def exposition(
    size: int,
    latest_checkpoint_at: dt.datetime | None,
    now: dt.datetime,
    jobs: dict[str, int],
) -> bytes:
    """The text exposition: this process's counts (or, in multiprocess mode, every
    worker's added up), the ledger's figures and the jobs by state."""
    if os.environ.get(MULTIPROC_VARIABLE):
        counts = CollectorRegistry()
        multiprocess.MultiProcessCollector(counts)
    else:
        counts = REGISTRY
    ledger = CollectorRegistry()
    ledger.register(_Ledger(size, latest_checkpoint_at, now, jobs))
    return generate_latest(counts) + generate_latest(ledger)


def in_networks(address: str, networks: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def may_scrape(authorization: str | None, address: str, token: str, networks: list[Any]) -> bool:
    """Whether a scrape is let in: with ``Authorization: Bearer <REGISTRY_METRICS_TOKEN>``
    when a token is set, or from an address in REGISTRY_METRICS_NETWORKS."""
    if token and authorization:
        scheme, _, given = authorization.partition(" ")
        given = given.strip().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(given, token.encode()):
            return True
    return in_networks(address, networks)
