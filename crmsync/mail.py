"""Sending an e-mail through the SMTP_* settings: the one sender of every part (notices, registration mail)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from crmsync.config import Config
from crmsync.models import utcnow

SMTP_TIMEOUT_SECONDS = 30


def configured(config: Config) -> bool:
    return bool(config.smtp_host and config.smtp_from)


def send(config: Config, to: Sequence[str], subject: str, body: str, html: str | None = None,
         reply_to: str | None = None) -> None:
    """Send one e-mail. Raises smtplib/OSError errors (the caller logs them, never the addresses).

    With SMTP_STARTTLS a server that does not offer STARTTLS gets nothing: smtplib raises before any
    credential or message is sent in clear.
    """
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = config.smtp_from
    message["To"] = ", ".join(to)
    if reply_to:
        message["Reply-To"] = reply_to
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=config.smtp_from.rpartition("@")[2] or None)
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
        if config.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if config.smtp_username:
            smtp.login(config.smtp_username, config.smtp_password)
        smtp.send_message(message)
