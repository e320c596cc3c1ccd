"""The registration service under test: its app over real HTTP (a threaded werkzeug server), a real SMTP
server (aiosmtpd) receiving its mail, real Redis and real databases, the sample catalogue loaded."""

from __future__ import annotations

import email
import email.policy
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from aiosmtpd.controller import Controller
from lxml import html as lxml_html
from werkzeug.serving import make_server

from crmsync import config as configuration
from crmsync import db
from crmsync.models import RegProgramme
from registration import catalogue
from registration.app import create_app
from tests.support import free_port

SAMPLE = Path(__file__).parents[2] / "registration" / "sample_catalogue.yaml"
STAFF_TOKEN = "staff-token-for-tests-0123456789"
SUMMER_ANSWERS = {"first_name": "Анна", "last_name": "Иванова", "birth_date": "1990-04-01", "level": "beginner",
                  "topics": ["statistics", "languages"], "consent_data_processing": "on"}


class Inbox:
    """aiosmtpd handler keeping the messages it was given, parsed."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.folder: Path | None = None  # where each mail is also written, as <n>.eml (the browser test reads it)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        if self.folder is not None:
            (self.folder / f"{len(self.messages)}.eml").write_bytes(envelope.content)
        return "250 OK"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if address in m["To"]]

    def link(self, address: str, kind: str) -> str:
        """The newest link of a kind (confirm|previous) mailed to the address."""
        for message in reversed(self.to(address)):
            found = re.search(rf"https?://\S+/{kind}/\S+", message.get_body(("plain",)).get_content())
            if found:
                return found.group(0)
        raise AssertionError(f"no {kind} link mailed to {address}")


@pytest.fixture
def smtp_inbox():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, inbox
    finally:
        controller.stop()


@dataclass
class Service:
    url: str
    config: configuration.Config
    inbox: Inbox
    programmes: dict[str, int] = field(default_factory=dict)
    app: object = None  # the Flask app served (a test may change its settings)

    def visitor(self, **headers) -> Visitor:
        return Visitor(self, headers)


class Visitor:
    """One person's browser: a cookie jar, the form's hidden fields read from the page as a browser would."""

    def __init__(self, service: Service, headers: dict):
        self.service = service
        self.http = requests.Session()
        self.http.headers.update(headers)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.service.url + path if path.startswith("/") else path, timeout=30, **kwargs)

    def post(self, path: str, data=None, **kwargs) -> requests.Response:
        return self.http.post(self.service.url + path if path.startswith("/") else path, data=data, timeout=30,
                              **kwargs)

    @staticmethod
    def hidden(page: str, form_index: int = 0) -> dict[str, str]:
        form = lxml_html.fromstring(page).forms[form_index]
        return {i.name: i.value or "" for i in form.inputs if getattr(i, "type", None) == "hidden"}

    def open_form(self, programme: str) -> tuple[str, dict[str, str]]:
        path = f"/programmes/{self.service.programmes[programme]}"
        page = self.get(path)
        assert page.status_code == 200, page.text
        return path, self.hidden(page.text)

    def register(self, programme: str, answers: dict, **extra) -> requests.Response:
        path, hidden = self.open_form(programme)
        return self.post(path, {**hidden, **answers, **extra})

    def follow_form(self, link: str) -> requests.Response:
        """Open a mailed link's page and press its one button (what a person does)."""
        page = self.get(link)
        assert page.status_code == 200, page.text
        return self.post(link.split("?")[0], self.hidden(page.text))


def make_config(database_url: str, redis_url: str, smtp_port: int, **extra) -> configuration.Config:
    return configuration.load(environ={
        "DATABASE_URL": database_url, "REDIS_URL": redis_url, "QUEUE_NAME": "crmsync-test",
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "SMTP_STARTTLS": "false",
        "SMTP_FROM": "registration@example.org", "REGISTRATION_SECRET_KEY": "test-secret-key-0123456789",
        "REGISTRATION_MIN_FILL_SECONDS": "0", "ADMIN_API_TOKENS": STAFF_TOKEN, "LOG_FORMAT": "text", **extra},
        env_file=None)


def start_service(database_url: str, redis_url: str, smtp_inbox, **extra):
    port, inbox = smtp_inbox
    config = make_config(database_url, redis_url, port, **extra)
    with db.session_scope(database_url) as session:
        catalogue.load_sample(session, SAMPLE)
        programmes = {p.name: p.id for p in session.query(RegProgramme)}
    server = make_server("127.0.0.1", 0, create_app(config), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    service = Service(f"http://127.0.0.1:{server.server_port}", config.replace(
        registration_public_url=f"http://127.0.0.1:{server.server_port}"), inbox, programmes, server.app)
    # Links in mails point at this server.
    server.app.config["CRMSYNC"] = service.config
    return server, thread, service


@pytest.fixture
def service_factory(sqlite_url, redis_url, smtp_inbox):
    started = []

    def start(database_url: str | None = None, **extra) -> Service:
        server, thread, service = start_service(database_url or sqlite_url, redis_url, smtp_inbox, **extra)
        started.append((server, thread))
        return service

    yield start
    for server, thread in started:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def service(service_factory) -> Service:
    return service_factory()
