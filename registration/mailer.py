"""The e-mails the service sends a person (confirmation link, "previous answers" link), in their language,
through the product's one sender (crmsync/mail.py). A failure is logged without the address and raised."""

from __future__ import annotations

import logging

from flask import render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from crmsync import mail
from crmsync.config import Config

log = logging.getLogger(__name__)


class MailNotSent(Exception):
    pass


def _send(config: Config, to: str, subject: str, body: str, what: str) -> None:
    if not mail.configured(config):
        log.warning("registration: the %s e-mail was not sent: SMTP_HOST and SMTP_FROM are not set", what)
        raise MailNotSent("SMTP not configured")
    try:
        mail.send(config, [to], subject, body)
    except Exception as exc:  # noqa: BLE001 - any SMTP/network failure: the page tells the person
        log.warning("registration: the %s e-mail was not sent: %s", what, exc.__class__.__name__)
        raise MailNotSent(exc.__class__.__name__) from None


def send_confirmation(config: Config, to: str, language: str, link: str, programme: str, hours: int) -> None:
    with force_locale(language):
        subject = _("Please confirm your registration for %(programme)s", programme=programme)
        body = render_template("mail/confirm.txt", link=link, programme=programme, hours=hours)
    _send(config, to, subject, body, "confirmation")


def send_magic_link(config: Config, to: str, language: str, link: str, project: str, minutes: int) -> None:
    with force_locale(language):
        subject = _("Your previous answers for %(project)s", project=project)
        body = render_template("mail/magic.txt", link=link, project=project, minutes=minutes)
    _send(config, to, subject, body, "previous answers")
