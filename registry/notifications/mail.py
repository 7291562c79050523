"""E-mail over SMTP: a reminder or a day's digest, each item with a link to its record,
and the password reset link someone asked for; as plain text and HTML (``smtplib`` and
``email`` from the standard library)."""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from markupsafe import escape

from registry.notifications.due import KINDS

SECURITY = ("none", "starttls", "tls")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # none, starttls or tls
    username: str | None
    password: str | None
    sender: str
    timeout: float = 10.0

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> SmtpSettings:
        return cls(
            config["SMTP_HOST"],
            config["SMTP_PORT"],
            config["SMTP_SECURITY"],
            config["SMTP_USERNAME"],
            config["SMTP_PASSWORD"],
            config["SMTP_SENDER"],
            config["SMTP_TIMEOUT"],
        )


def send(settings: SmtpSettings, message: EmailMessage) -> None:
    """Send one message (raises ``smtplib.SMTPException`` or ``OSError`` on failure)."""
    context = ssl.create_default_context()
    if settings.security == "tls":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout, context=context
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    with client:
        if settings.security == "starttls":
            client.starttls(context=context)
        if settings.username:
            client.login(settings.username, settings.password or "")
        client.send_message(message)


def record_link(base_url: str, item: Mapping[str, Any]) -> str:
    """The web page of an item's record: its entry's history, else its system."""
    base = base_url.rstrip("/")
    if item.get("entry_id"):
        return f"{base}/systems/{item['system']}/entries/{item['entry_id']}/history"
    return f"{base}/systems/{item['system']}"


def _text_line(item: Mapping[str, Any], link: str) -> str:
    label = KINDS.get(item["kind"], item["kind"])
    return (
        f"- {label}: {item['title']} ({item['system_name']}, {item['system']})\n"
        f"  {item['detail']}\n  {link}\n"
    )


def _html_item(item: Mapping[str, Any], link: str) -> str:
    label = KINDS.get(item["kind"], item["kind"])
    return (
        f'<li><strong>{escape(label)}</strong>: <a href="{escape(link)}">'
        f"{escape(item['title'])}</a> ({escape(item['system_name'])}, "
        f"<code>{escape(item['system'])}</code>)<br>{escape(item['detail'])}</li>"
    )


def compose(
    sender: str,
    to: str,
    items: Sequence[Mapping[str, Any]],
    base_url: str,
    *,
    day: dt.date | None = None,
    unsubscribe: str | None = None,
) -> EmailMessage:
    """A reminder of one item, or (``day`` given) the digest of that day's items.
    ``unsubscribe``: the link to an owner who is not a registry user, to the address's
    preferences page (signed, no sign-in), also in the List-Unsubscribe headers, whose
    one-click POST stops them all (RFC 8058)."""
    links = [record_link(base_url, i) for i in items]
    if day is None:
        item = items[0]
        label = KINDS.get(item["kind"], item["kind"])
        subject = f"[AI registry] {label}: {item['title']} ({item['system']})"
        intro = "This needs your attention in the AI governance registry:"
    else:
        subject = (
            f"[AI registry] {len(items)} item{'s' if len(items) != 1 else ''} due: digest of {day}"
        )
        intro = f"What fell due for you in the AI governance registry on {day}:"
    text = (
        intro
        + "\n\n"
        + "\n".join(_text_line(i, link) for i, link in zip(items, links, strict=True))
    )
    html = (
        f"<p>{escape(intro)}</p><ul>"
        + "".join(_html_item(i, link) for i, link in zip(items, links, strict=True))
        + "</ul>"
    )
    if unsubscribe is None:
        text += f"\nYour notification preferences: {base_url.rstrip('/')}/me/notifications\n"
        html += (
            f'<p><a href="{escape(base_url.rstrip("/"))}/me/notifications">'
            "Your notification preferences</a></p>"
        )
        return _message(sender, to, subject, text, html)
    why = "You receive this as an owner of the system named in the registry's records."
    said = "Choose your reminders (at once, a daily digest or none) or stop these e-mails"
    text += f"\n{why}\n{said}: {unsubscribe}\n"
    html += f'<p>{escape(why)} <a href="{escape(unsubscribe)}">{escape(said)}</a></p>'
    message = _message(sender, to, subject, text, html)
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def compose_password_reset(
    sender: str, to: str, link: str, expires_at: dt.datetime, hours: int
) -> EmailMessage:
    """The e-mail that carries a password reset link someone asked for: the link, how
    long it is good for, and what to do if one did not ask."""
    until = expires_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    validity = f"The link works once, for {hours} hour{'s' if hours != 1 else ''} (until {until})."
    intro = "Someone asked to reset the password of your AI governance registry account."
    ignore = (
        "If it was not you, ignore this e-mail: your password stays as it is. "
        "Setting a new one ends every session of yours."
    )
    text = f"{intro}\n\nSet a new password here:\n{link}\n\n{validity}\n\n{ignore}\n"
    html = (
        f'<p>{escape(intro)}</p><p><a href="{escape(link)}">Set a new password</a></p>'
        f"<p>{escape(validity)}</p><p>{escape(ignore)}</p>"
    )
    return _message(sender, to, "[AI registry] Reset your password", text, html)


def _message(sender: str, to: str, subject: str, text: str, html: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(text)
    message.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
    return message
