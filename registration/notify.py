"""The e-mail a person gets when staff decide on their registration in the CRM: enrolled, waitlisted, rejected.

Sent through the product's SMTP_* settings (crmsync/mail.py), in the language the person registered in
(English or Russian). The text names the programme and, once enrolled, the Moodle courses; nothing else of
the registration. A failure is returned in words a CRM user reads on the registration (status_message) and
logged without the address.
"""

from __future__ import annotations

import logging
import smtplib

from crmsync import mail
from crmsync.config import Config

log = logging.getLogger(__name__)

TEXTS = {
    "en": {
        "greeting": "Dear {person},", "greeting_anonymous": "Hello,",
        "enrolled": ("Your registration for {programme} is accepted",
                     "your registration for {programme} is accepted, and you are enrolled in: {courses}.\n\n"
                     "Moodle e-mails you separately how to log in if you have no account yet."),
        "waitlisted": ("Your registration for {programme}: waiting list",
                       "{programme} is full for now, and your registration is on its waiting list. We will write "
                       "to you again as soon as a place is yours."),
        "rejected": ("Your registration for {programme}",
                     "we are sorry: your registration for {programme} could not be accepted."),
        "closing": "Kind regards,\nThe course team",
    },
    "ru": {
        "greeting": "Здравствуйте, {person}!", "greeting_anonymous": "Здравствуйте!",
        "enrolled": ("Ваша заявка на программу «{programme}» принята",
                     "ваша заявка на программу «{programme}» принята, вы записаны на курсы: {courses}.\n\n"
                     "Если у вас ещё нет учётной записи в Moodle, Moodle отдельно пришлёт письмо о входе."),
        "waitlisted": ("Ваша заявка на программу «{programme}»: лист ожидания",
                       "сейчас на программе «{programme}» нет свободных мест, ваша заявка в листе ожидания. Мы "
                       "напишем вам, как только место освободится."),
        "rejected": ("Ваша заявка на программу «{programme}»",
                     "к сожалению, ваша заявка на программу «{programme}» не может быть принята."),
        "closing": "С уважением,\nкоманда курса",
    },
}
STATUSES = ("enrolled", "waitlisted", "rejected")


def decision_mail(status: str, programme: str, person: str = "", language: str = "en",
                  courses: list[str] | None = None) -> tuple[str, str]:
    """(subject, body) of the e-mail about a decision."""
    texts = TEXTS.get(language, TEXTS["en"])
    subject, text = texts[status]
    values = {"programme": programme, "courses": ", ".join(courses or []), "person": person}
    greeting = texts["greeting"].format(**values) if person else texts["greeting_anonymous"]
    body = f"{greeting}\n\n{text.format(**values)}\n\n{texts['closing']}\n"
    return subject.format(**values), body


def send_decision(config: Config, address: str, status: str, programme: str, person: str = "",
                  language: str = "en", courses: list[str] | None = None) -> str | None:
    """Send the e-mail; None when the SMTP server took it, else why not."""
    if status not in STATUSES:
        raise ValueError(f"no e-mail for status {status!r}")
    if not mail.configured(config):
        return "no mail server is configured (an administrator sets SMTP_HOST and SMTP_FROM)"
    subject, body = decision_mail(status, programme, person, language, courses)
    try:
        mail.send(config, [address], subject, body)
    except (smtplib.SMTPException, OSError) as exc:
        log.warning("registration e-mail (%s) not sent: %s", status, exc.__class__.__name__)
        return f"the mail server did not take it ({exc.__class__.__name__})"
    return None
