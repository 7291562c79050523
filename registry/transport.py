"""Whether the session cookie must be ``Secure`` (and HSTS sent): the one rule.

By default (``REGISTRY_SECURE_COOKIES`` unset or ``auto``) it must, unless the request
was served on loopback over plain HTTP: not over HTTPS, the Host it was sent to is a
loopback name or address, and the client is on this machine too. ``make run`` on
127.0.0.1 therefore keeps working over plain HTTP, and every other deployment gets
``Secure`` cookies and ``Strict-Transport-Security``. ``true`` or ``false`` decide for
every request.
"""

from __future__ import annotations

import ipaddress

from flask import Flask, Request


def _is_loopback(host: str) -> bool:
    """``host`` (a Host header's name with an optional port, or a bare address) names
    this machine's loopback interface."""
    if host.startswith("["):  # [IPv6]:port
        name = host[1 : host.find("]")]
    elif host.count(":") == 1:  # name:port or IPv4:port
        name = host.partition(":")[0]
    else:  # a name, an IPv4 address or a bare IPv6 address
        name = host
    name = name.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def loopback_over_http(request: Request) -> bool:
    """The request came over plain HTTP, addressed to and from this machine."""
    return (
        not request.is_secure
        and _is_loopback(request.host)
        and _is_loopback(request.remote_addr or "")
    )


def secure_cookies(app: Flask, request: Request) -> bool:
    """Whether the answer to ``request`` sets ``Secure`` cookies and HSTS."""
    setting = app.config["SESSION_COOKIE_SECURE"]
    if setting is None:
        return not loopback_over_http(request)
    return bool(setting)
