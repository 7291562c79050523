"""Configuration: the one place where environment variables are read.

Every setting has a ``REGISTRY_`` environment variable; ``create_app(config)`` may
override any of them with a mapping (tests do).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from pathlib import Path
from typing import Any

from limits import parse_many

from registry.paths import DEMO_CORPUS, working_folder


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return the application's settings: environment first, then ``overrides``."""
    env = os.environ
    # None: decided per request (registry/transport.py): Secure unless served on
    # loopback over plain HTTP.
    secure_setting = env.get("REGISTRY_SECURE_COOKIES", "auto").strip().lower()
    secure_cookies = None if secure_setting in ("", "auto") else _bool(secure_setting, False)
    # Relative defaults: in the checkout, or in the working directory when installed.
    here = working_folder()
    instance = Path(env.get("REGISTRY_INSTANCE_PATH", str(here / "instance")))
    config: dict[str, Any] = {
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": env.get(
            "REGISTRY_DATABASE_URL", f"sqlite:///{instance / 'registry.sqlite3'}"
        ),
        "SECRET_KEY": env.get("REGISTRY_SECRET_KEY"),
        # The origin `registry keys init` names a new signing key with (unset: a unique
        # default, registry.example/ai-governance/<8 hex>). Only that: once the key
        # exists, its name is the ledger's origin (checkpoints, packs).
        "ORIGIN": env.get("REGISTRY_ORIGIN") or None,
        "SIGNING_KEY_PATH": env.get("REGISTRY_SIGNING_KEY"),  # default: in the instance folder
        # The latest signed checkpoint, kept outside the database (ledger.kept).
        "KEPT_CHECKPOINT_PATH": env.get("REGISTRY_KEPT_CHECKPOINT"),  # default: likewise
        # A signed checkpoint every N events, or at the first append T seconds after the
        # last one (per process), and on demand: events after the last checkpoint are
        # chained but not yet covered by a signature.
        # Witnesses the checkpoints are submitted to: space-separated URL=VKEY pairs (the
        # witness's add-checkpoint prefix and its cosignature/v1 verifier key).
        "WITNESSES": env.get("REGISTRY_WITNESSES", ""),
        "WITNESS_TIMEOUT": float(env.get("REGISTRY_WITNESS_TIMEOUT", "5")),
        "CHECKPOINT_EVERY_EVENTS": int(env.get("REGISTRY_CHECKPOINT_EVERY_EVENTS", "1000")),
        "CHECKPOINT_EVERY_SECONDS": float(env.get("REGISTRY_CHECKPOINT_EVERY_SECONDS", "300")),
        "SQL_ECHO": _bool(env.get("REGISTRY_SQL_ECHO"), False),
        # Test each pooled connection before use (one round trip more per use), so the
        # first request after a PostgreSQL restart does not fail.
        "DATABASE_PRE_PING": _bool(env.get("REGISTRY_DATABASE_PRE_PING"), True),
        # Whether connecting to a SQLite file that does not exist creates it (empty); the
        # command line's app opens existing databases only (cli.command_app).
        "DATABASE_CREATE_FILE": True,
        # Seconds a client is told to wait (Retry-After) when the database is unavailable.
        "DATABASE_RETRY_AFTER": int(env.get("REGISTRY_DATABASE_RETRY_AFTER", "5")),
        "SESSION_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        # The registry issues no remember cookie; were one set, it would be Secure unless
        # told otherwise.
        "REMEMBER_COOKIE_SECURE": secure_cookies is not False,
        # Strict-Transport-Security's max-age, sent whenever cookies are Secure (0: never).
        "HSTS_SECONDS": int(env.get("REGISTRY_HSTS_SECONDS", str(365 * 24 * 3600))),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        # The sign-in cookie lasts as long as the browser session, and its signature is
        # refused once it is older than this (counted from when the session last changed,
        # e.g. the sign-in).
        # How many hours an administrator's password reset link is good for (once).
        "PASSWORD_RESET_HOURS": int(env.get("REGISTRY_PASSWORD_RESET_HOURS", "24")),
        # A second factor (TOTP) is mandatory for administrators and compliance officers
        # signing in with a password: they set one up before anything else.
        "SECOND_FACTOR_MANDATORY": _bool(env.get("REGISTRY_SECOND_FACTOR_MANDATORY"), False),
        # The name authenticator apps show for the registry's codes.
        "SECOND_FACTOR_ISSUER": env.get("REGISTRY_SECOND_FACTOR_ISSUER", "AI governance registry"),
        # The app's clock for second-factor codes (a callable; None: the real time).
        "CLOCK": None,
        # OpenID Connect providers to sign in through: a JSON list (docs/identity.md).
        "OIDC_PROVIDERS": json.loads(env.get("REGISTRY_OIDC_PROVIDERS") or "[]"),
        "PERMANENT_SESSION_LIFETIME": dt.timedelta(
            hours=float(env.get("REGISTRY_SESSION_HOURS", "8"))
        ),
        # Failed sign-ins allowed per e-mail address tried and per client address (the
        # `limits` notation: "5 per minute; 20 per hour"); successful ones do not count.
        "LOGIN_LIMIT_PER_EMAIL": env.get(
            "REGISTRY_LOGIN_LIMIT_PER_EMAIL", "5 per minute; 20 per hour"
        ),
        "LOGIN_LIMIT_PER_IP": env.get("REGISTRY_LOGIN_LIMIT_PER_IP", "20 per minute; 100 per hour"),
        # Where the counts are kept: per process by default; share one (redis://…) when
        # several workers or hosts serve the app.
        "RATELIMIT_STORAGE_URI": env.get("REGISTRY_RATELIMIT_STORAGE_URI", "memory://"),
        # What the counts' keys start with: distinct per installation sharing one Redis.
        "RATELIMIT_KEY_PREFIX": env.get("REGISTRY_RATELIMIT_KEY_PREFIX", "registry"),
        # Reverse proxies in front of the app whose X-Forwarded-For and -Proto headers
        # are believed (werkzeug's ProxyFix, that many hops from the right). 0, the
        # default: none, the headers are ignored and the client is the connection's
        # peer. Set it to the number of proxies you run, never more: a client can send
        # the headers too.
        "TRUSTED_PROXY_HOPS": int(env.get("REGISTRY_TRUSTED_PROXY_HOPS", "0")),
        # Logs: JSON lines ("json") or text ("text"), at this level and above.
        "LOG_FORMAT": env.get("REGISTRY_LOG_FORMAT", "json").strip().lower(),
        "LOG_LEVEL": env.get("REGISTRY_LOG_LEVEL", "INFO").strip().upper(),
        # Who may read /metrics: a bearer token, and/or client addresses (CIDR networks,
        # space-separated; loopback by default).
        "METRICS_TOKEN": env.get("REGISTRY_METRICS_TOKEN", ""),
        "METRICS_NETWORKS": env.get("REGISTRY_METRICS_NETWORKS", "127.0.0.1/32 ::1/128"),
        # Where the workers of `registry serve` keep their metrics' counts (emptied at
        # start; default: in the instance folder).
        "METRICS_DIR": env.get("REGISTRY_METRICS_DIR"),
        "MAX_CONTENT_LENGTH": int(env.get("REGISTRY_MAX_CONTENT_LENGTH", str(1024 * 1024))),
        "TOKEN_DEFAULT_DAYS": int(env.get("REGISTRY_TOKEN_DEFAULT_DAYS", "90")),
        # Where evidence packs are written and kept (listed from the ledger's export
        # events; a pack whose file is gone stays listed, as not available).
        "EXPORT_DIR": env.get("REGISTRY_EXPORT_DIR", str(here / "audit_exports")),
        # Evidence packs a user may export in any hour (of any scope; besides, one
        # whole-registry export at a time): counted in RATELIMIT_STORAGE_URI's storage.
        "EXPORTS_PER_HOUR": int(env.get("REGISTRY_EXPORTS_PER_HOUR", "20")),
        # Evidence documents (registry.documents): where their bytes are kept, "local" (a
        # content-addressed folder, DOCUMENT_DIR, default instance/documents) or "s3" (an
        # S3-compatible bucket: AWS S3, MinIO; docs/documents.md). Credentials for S3 come
        # from REGISTRY_S3_ACCESS_KEY_ID / REGISTRY_S3_SECRET_ACCESS_KEY when set, else
        # from boto3's own chain (AWS_* variables, ~/.aws, an instance role).
        "DOCUMENT_STORE": env.get("REGISTRY_DOCUMENT_STORE", "local").strip().lower(),
        "DOCUMENT_DIR": env.get("REGISTRY_DOCUMENT_DIR"),  # default: in the instance folder
        "DOCUMENT_MAX_BYTES": int(env.get("REGISTRY_DOCUMENT_MAX_BYTES", str(100 * 1024 * 1024))),
        # The largest document file an evidence pack carries; a larger one is listed in
        # the pack with its hash and metadata only (reported WITHHELD by the verifier).
        "PACK_FILE_MAX_BYTES": int(env.get("REGISTRY_PACK_FILE_MAX_BYTES", str(100 * 1024 * 1024))),
        # Uploads never attached to any entry version are collected this long after
        # they were received (`registry documents gc`).
        "DOCUMENT_GC_GRACE_HOURS": float(env.get("REGISTRY_DOCUMENT_GC_GRACE_HOURS", "24")),
        "S3_BUCKET": env.get("REGISTRY_S3_BUCKET", ""),
        "S3_PREFIX": env.get("REGISTRY_S3_PREFIX", "documents/"),
        "S3_ENDPOINT_URL": env.get("REGISTRY_S3_ENDPOINT_URL") or None,
        "S3_REGION": env.get("REGISTRY_S3_REGION") or None,
        "S3_ACCESS_KEY_ID": env.get("REGISTRY_S3_ACCESS_KEY_ID") or None,
        "S3_SECRET_ACCESS_KEY": env.get("REGISTRY_S3_SECRET_ACCESS_KEY") or None,
        # "path" for MinIO and most self-hosted servers, "virtual" or "auto" for AWS.
        "S3_ADDRESSING_STYLE": env.get("REGISTRY_S3_ADDRESSING_STYLE", "auto"),
        # Background jobs (registry/jobs, huey): "sqlite", a queue in a file beside the
        # database (REGISTRY_JOBS_URL: its path, default instance/jobs.sqlite3), needing no
        # server; "redis", for several app servers (REGISTRY_JOBS_URL: redis://…, default
        # redis://127.0.0.1:6379/0); "immediate", each job run at once by whoever asks
        # for it (tests, one-off scripts). `registry worker` consumes the queue.
        "JOBS_BACKEND": env.get("REGISTRY_JOBS_BACKEND", "sqlite").strip().lower(),
        "JOBS_URL": env.get("REGISTRY_JOBS_URL") or None,
        # The queue's name: installations sharing one Redis each need their own.
        "JOBS_QUEUE": env.get("REGISTRY_JOBS_QUEUE", "registry"),
        # A running job whose worker wrote no heartbeat for this long lost its worker: it
        # runs again, up to REGISTRY_JOBS_ATTEMPTS attempts in all, then fails.
        "JOBS_LEASE_SECONDS": float(env.get("REGISTRY_JOBS_LEASE_SECONDS", "30")),
        "JOBS_ATTEMPTS": int(env.get("REGISTRY_JOBS_ATTEMPTS", "2")),
        # Reminders and notifications (registry/notifications, `registry notify`): the
        # registry's address for the links in e-mails, how many days ahead a reminder
        # is sent, the SMTP server (REGISTRY_SMTP_SECURITY: none, starttls or tls; no
        # host: no e-mail is sent) and whether webhooks may call loopback, link-local or
        # private addresses (off: refused when subscribed and again at each delivery).
        "BASE_URL": env.get("REGISTRY_BASE_URL", "http://127.0.0.1:5000"),
        "NOTIFY_DAYS_AHEAD": int(env.get("REGISTRY_NOTIFY_DAYS_AHEAD", "14")),
        # The domains owners who are not users may be e-mailed at (* any, empty none).
        "NOTIFY_OWNER_DOMAINS": env.get("REGISTRY_NOTIFY_OWNER_DOMAINS", "*"),
        # How many days the link in an e-mail to such an owner opens the address's
        # preferences page (every e-mail carries a fresh one).
        "NOTIFY_LINK_DAYS": int(env.get("REGISTRY_NOTIFY_LINK_DAYS", "60")),
        "SMTP_HOST": env.get("REGISTRY_SMTP_HOST", ""),
        "SMTP_PORT": int(env.get("REGISTRY_SMTP_PORT", "587")),
        "SMTP_SECURITY": env.get("REGISTRY_SMTP_SECURITY", "starttls").strip().lower(),
        "SMTP_USERNAME": env.get("REGISTRY_SMTP_USERNAME") or None,
        "SMTP_PASSWORD": env.get("REGISTRY_SMTP_PASSWORD") or None,
        "SMTP_SENDER": env.get("REGISTRY_SMTP_SENDER", "registry@localhost"),
        "SMTP_TIMEOUT": float(env.get("REGISTRY_SMTP_TIMEOUT", "10")),
        "WEBHOOK_ALLOW_PRIVATE": _bool(env.get("REGISTRY_WEBHOOK_ALLOW_PRIVATE"), False),
        # The Dutch algorithm register's change stream, shipped inside the package.
        "DEMO_CORPUS": env.get("REGISTRY_DEMO_CORPUS", str(DEMO_CORPUS)),
        "WTF_CSRF_ENABLED": True,
        "TESTING": False,
    }
    if overrides:
        config.update(overrides)
    if config["CHECKPOINT_EVERY_EVENTS"] < 1 or config["CHECKPOINT_EVERY_SECONDS"] <= 0:
        raise ValueError(
            "REGISTRY_CHECKPOINT_EVERY_EVENTS must be at least 1 and "
            "REGISTRY_CHECKPOINT_EVERY_SECONDS more than 0"
        )
    if config["EXPORTS_PER_HOUR"] < 1:
        raise ValueError("REGISTRY_EXPORTS_PER_HOUR must be at least 1")
    if config["DATABASE_RETRY_AFTER"] < 1:
        raise ValueError("REGISTRY_DATABASE_RETRY_AFTER must be at least 1 (seconds)")
    if config["HSTS_SECONDS"] < 0:
        raise ValueError("REGISTRY_HSTS_SECONDS must be 0 (no HSTS) or more")
    if config["PERMANENT_SESSION_LIFETIME"].total_seconds() <= 0:
        raise ValueError("REGISTRY_SESSION_HOURS must be more than 0")
    for name in ("LOGIN_LIMIT_PER_EMAIL", "LOGIN_LIMIT_PER_IP"):
        try:
            parse_many(config[name])
        except ValueError as exc:
            raise ValueError(
                f"REGISTRY_{name} is not a rate limit such as '5 per minute; 20 per hour': {exc}"
            ) from exc
    if config["TRUSTED_PROXY_HOPS"] < 0:
        raise ValueError("REGISTRY_TRUSTED_PROXY_HOPS must be 0 (no proxy trusted) or more")
    if config["LOG_FORMAT"] not in ("json", "text"):
        raise ValueError("REGISTRY_LOG_FORMAT must be 'json' or 'text'")
    if config["LOG_LEVEL"] not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("REGISTRY_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
    if isinstance(config["METRICS_NETWORKS"], str):
        try:
            config["METRICS_NETWORKS"] = [
                ipaddress.ip_network(item, strict=False)
                for item in config["METRICS_NETWORKS"].replace(",", " ").split()
            ]
        except ValueError as exc:
            raise ValueError(f"REGISTRY_METRICS_NETWORKS is not a list of networks: {exc}") from exc
    if config["DOCUMENT_STORE"] not in ("local", "s3"):
        raise ValueError("REGISTRY_DOCUMENT_STORE must be 'local' or 's3'")
    if config["DOCUMENT_STORE"] == "s3" and not config["S3_BUCKET"]:
        raise ValueError("REGISTRY_DOCUMENT_STORE=s3 needs REGISTRY_S3_BUCKET")
    if config["DOCUMENT_MAX_BYTES"] < 1:
        raise ValueError("REGISTRY_DOCUMENT_MAX_BYTES must be at least 1")
    if config["PACK_FILE_MAX_BYTES"] < 0:
        raise ValueError("REGISTRY_PACK_FILE_MAX_BYTES must be 0 or more")
    if config["DOCUMENT_GC_GRACE_HOURS"] < 0:
        raise ValueError("REGISTRY_DOCUMENT_GC_GRACE_HOURS must be 0 or more")
    if config["S3_ADDRESSING_STYLE"] not in ("auto", "path", "virtual"):
        raise ValueError("REGISTRY_S3_ADDRESSING_STYLE must be 'auto', 'path' or 'virtual'")
    if config["JOBS_BACKEND"] not in ("sqlite", "redis", "immediate"):
        raise ValueError("REGISTRY_JOBS_BACKEND must be 'sqlite', 'redis' or 'immediate'")
    if config["JOBS_LEASE_SECONDS"] < 2 or config["JOBS_ATTEMPTS"] < 1:
        raise ValueError(
            "REGISTRY_JOBS_LEASE_SECONDS must be at least 2 and REGISTRY_JOBS_ATTEMPTS at least 1"
        )
    if not config["JOBS_URL"]:
        config["JOBS_URL"] = (
            "redis://127.0.0.1:6379/0"
            if config["JOBS_BACKEND"] == "redis"
            else str(Path(config["INSTANCE_PATH"]) / "jobs.sqlite3")
        )
    if config["SMTP_SECURITY"] not in ("none", "starttls", "tls"):
        raise ValueError("REGISTRY_SMTP_SECURITY must be 'none', 'starttls' or 'tls'")
    if not 0 <= config["NOTIFY_DAYS_AHEAD"] <= 366:
        raise ValueError("REGISTRY_NOTIFY_DAYS_AHEAD must be 0 to 366 (days)")
    if not 1 <= config["NOTIFY_LINK_DAYS"] <= 366:
        raise ValueError("REGISTRY_NOTIFY_LINK_DAYS must be 1 to 366 (days)")
    if not config["DOCUMENT_DIR"]:
        config["DOCUMENT_DIR"] = str(Path(config["INSTANCE_PATH"]) / "documents")
    if not config["METRICS_DIR"]:
        config["METRICS_DIR"] = str(Path(config["INSTANCE_PATH"]) / "metrics")
    if not config["SIGNING_KEY_PATH"]:
        config["SIGNING_KEY_PATH"] = str(Path(config["INSTANCE_PATH"]) / "ledger-signing.key")
    if not config["KEPT_CHECKPOINT_PATH"]:
        config["KEPT_CHECKPOINT_PATH"] = str(Path(config["INSTANCE_PATH"]) / "latest-checkpoint")
    return config
