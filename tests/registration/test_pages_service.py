"""The public pages over real HTTP: register, confirm (double opt-in), the push queued, the PDF."""

from __future__ import annotations

from rq import Queue

from crmsync import db
from crmsync.models import RegRegistration
from tests.registration.conftest import SUMMER_ANSWERS


def test_register_confirm_queues_the_push_and_serves_the_pdf(service, redis_client):
    person = service.visitor(**{"Accept-Language": "en"})
    index = person.get("/")
    assert index.status_code == 200 and "Data Analysis with Python" in index.text
    sent = person.register("Data Analysis with Python", {**SUMMER_ANSWERS, "email": "Anna@Example.org"})
    assert sent.status_code == 200 and "Check your inbox" in sent.text, sent.text
    with db.session_scope(service.config.database_url) as session:
        registration = session.query(RegRegistration).one()
        assert (registration.email, registration.status) == ("anna@example.org", "unconfirmed")
        assert registration.consent_version == "summer-school-2026-03"
        assert registration.answers["_consents"] == ["data_processing"]
    assert Queue("crmsync-test", connection=redis_client).count == 0
    link = service.inbox.link("anna@example.org", "confirm")
    confirmed = person.follow_form(link)
    assert confirmed.status_code == 200 and "is confirmed" in confirmed.text
    with db.session_scope(service.config.database_url) as session:
        registration = session.query(RegRegistration).one()
        assert registration.status == "submitted" and registration.confirmed_at is not None
    jobs = Queue("crmsync-test", connection=redis_client).get_jobs()
    assert [(j.func_name, j.args) for j in jobs] == [("registration.jobs.push_registration", (registration.id,))]
    pdf = person.get(f"/registrations/{registration.id}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert service.visitor().get(f"/registrations/{registration.id}.pdf").status_code == 404
    assert person.get(link).status_code == 404  # used: the link works once
