"""Webhook deliveries: where a subscriber's URL may point, and one signed POST.

Payloads are signed by the Standard Webhooks scheme (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``: HMAC-SHA256 with the subscription's
``whsec_`` secret), through the ``standardwebhooks`` package. A URL whose host resolves
to a loopback, link-local, private or otherwise non-public address is refused unless
the administrator allowed it (``REGISTRY_WEBHOOK_ALLOW_PRIVATE``): when it is
subscribed, and again at each delivery, whose connection goes to the address just
checked (a name that resolves elsewhere the second time, DNS rebinding, reaches
nothing it should not).
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import ipaddress
import secrets
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from registry.errors import InvalidInput

Resolver = Callable[[str, int], list[str]]
USER_AGENT = "ai-governance-registry-webhooks/1"


def new_secret() -> str:
    """A new signing secret in the Standard Webhooks form (``whsec_`` + base64)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system's resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: str) -> bool:
    """Whether an address is one the registry may call without the administrator's leave:
    not loopback, link-local, private, multicast, reserved or unspecified (an IPv4
    address mapped into IPv6 is judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


@dataclass(frozen=True)
class Target:
    """A checked URL and the address its delivery connects to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def check_url(url: str, *, allow_private: bool, resolver: Resolver = resolve) -> Target:
    """The URL's target, or :class:`InvalidInput` (field ``url``) when it is not an
    http(s) URL with a host, does not resolve, or resolves to a non-public address and
    ``allow_private`` is off."""

    def refuse(message: str) -> InvalidInput:
        return InvalidInput(message, {"url": [message]})

    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise refuse("Not a URL.") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise refuse("A webhook URL is an http:// or https:// URL with a host.")
    if parts.username or parts.password:
        raise refuse("A webhook URL carries no credentials: the signature authenticates.")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolver(parts.hostname, port)
    except (OSError, UnicodeError):
        raise refuse(f"The host {parts.hostname!r} does not resolve.") from None
    if not addresses:
        raise refuse(f"The host {parts.hostname!r} does not resolve.")
    blocked = [a for a in addresses if not is_public(a)]
    if blocked and not allow_private:
        raise refuse(
            f"The host {parts.hostname!r} resolves to a loopback, link-local or private "
            f"address ({', '.join(blocked)}): refused unless the administrator allows it."
        )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port, path, addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address already checked, whatever the host resolves to now."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to an address already checked; the certificate is checked for the host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
        self.address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Sent:
    ok: bool
    status_code: int | None
    error: str


def signed_headers(secret: str, message_id: str, body: bytes, at: dt.datetime) -> dict[str, str]:
    """The Standard Webhooks headers of ``body``."""
    signature = Webhook(secret).sign(message_id, at, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def post(
    url: str,
    secret: str,
    message_id: str,
    body: bytes,
    *,
    allow_private: bool,
    timeout: float = 10.0,
    resolver: Resolver = resolve,
) -> Sent:
    """POST one signed payload; any 2xx answer is a delivery. The URL is checked again
    first (a refusal is a failed attempt, never a request)."""
    try:
        target = check_url(url, allow_private=allow_private, resolver=resolver)
    except InvalidInput as exc:
        return Sent(False, None, exc.message)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_headers(secret, message_id, body, dt.datetime.now(dt.UTC)),
    }
    pinned = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = pinned(target, timeout)
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65_536)
        ok = 200 <= response.status < 300
        return Sent(ok, response.status, "" if ok else f"HTTP {response.status} {response.reason}")
    except (OSError, http.client.HTTPException) as exc:
        return Sent(False, None, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()
