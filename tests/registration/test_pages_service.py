"""The public pages over real HTTP: register, confirm (double opt-in), the push queued, the PDF."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from lxml import html as lxml_html
from pypdf import PdfReader
from rq import Queue

from crmsync import db
from crmsync.models import RegProgramme, RegRegistration, utcnow
from registration.pdf import FontMissing, font_files
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


def test_invalid_answers_are_summarised_announced_and_tied_to_their_fields(service):
    person = service.visitor(**{"Accept-Language": "en"})
    page = person.register("Data Analysis with Python", {"first_name": "Anna", "email": "not-an-address",
                                                         "birth_date": "31/12/2001", "level": "expert",
                                                         "student_id": "ab12", "motivation": "short"})
    assert page.status_code == 422
    doc = lxml_html.fromstring(page.text)
    summary = doc.get_element_by_id("error-summary")
    assert summary.get("role") == "alert"
    links = {a.get("href"): a.text_content() for a in summary.iter("a")}
    for name in ("last_name", "email", "birth_date", "level", "topics", "student_id", "motivation",
                 "consent_data_processing"):
        assert f"#f-{name}" in links, (name, links)
        target = doc.get_element_by_id(f"f-{name}")  # every link leads to its input
        if name != "topics":
            assert target.get("aria-invalid") == "true", name
            assert f"error-{name}" in target.get("aria-describedby"), name
    assert "Please give an e-mail address such as name@example.org." in links["#f-email"]
    assert "Two capital letters and six digits" in links["#f-student_id"]
    assert "at least 10 characters" in links["#f-motivation"]
    assert "Please give this consent to register." in links["#f-consent_data_processing"]
    # The multiselect is a group: a fieldset whose legend names it, the error described on the fieldset.
    fieldset = doc.get_element_by_id("f-topics").getparent().getparent()
    assert fieldset.tag == "fieldset" and fieldset.get("aria-invalid") == "true"
    assert fieldset.find("legend").text.startswith("Topics you are interested in")
    # Every input has its label; what was typed is kept.
    labelled = {label.get("for") for label in doc.iter("label")}
    assert all(i.get("id") in labelled for i in doc.iter("input", "select", "textarea")
               if i.get("type") != "hidden")
    assert doc.get_element_by_id("f-first_name").get("value") == "Anna"


def test_the_pages_are_in_russian_by_accept_language_and_by_the_switcher(service):
    russian = service.visitor(**{"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    index = russian.get("/")
    assert '<html lang="ru">' in index.text and "Выберите программу" in index.text
    page = russian.register("Data Analysis with Python", {"email": "x@example.org"})
    assert page.status_code == 422 and "Заполните это поле." in page.text and "Имя" in page.text
    person = service.visitor(**{"Accept-Language": "en"})
    assert "Choose a programme" in person.get("/").text
    switched = person.get("/language/ru?next=/")
    assert switched.url == service.url + "/" and "Выберите программу" in switched.text
    assert person.get("/language/en?next=//evil.example.org/").url == service.url + "/"  # no open redirect


def test_declaration_pdf_is_set_in_a_unicode_font(service):
    person = service.visitor(**{"Accept-Language": "ru"})
    person.register("Data Analysis with Python", {**SUMMER_ANSWERS, "email": "anna@example.org"})
    with db.session_scope(service.config.database_url) as session:
        registration_id = session.query(RegRegistration).one().id
    pdf = person.get(f"/registrations/{registration_id}.pdf")
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    assert b"DejaVuSans" in pdf.content  # the embedded Unicode TTF
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    for written in ("Регистрация в Летнюю школу", "Имя", "Анна", "Иванова", "Начальный", "Статистика, Языки",
                    "Согласия (версия summer-school-2026-03", "☑", "☐"):
        assert written in text, written


def test_missing_font_fails_with_a_clear_message(tmp_path):
    with pytest.raises(FontMissing, match="DejaVuSans.ttf.*fonts-dejavu-core"):
        font_files(str(tmp_path))


def test_inactive_and_closed_programmes_are_refused_with_a_message(service):
    with db.session_scope(service.config.database_url) as session:
        programme = session.get(RegProgramme, service.programmes["Project Management Essentials"])
        person = service.visitor(**{"Accept-Language": "en"})
        path, hidden = person.open_form("Project Management Essentials")
        programme.active = False
    index = person.get("/").text
    assert "Project Management Essentials" not in index  # not offered
    refused = person.post(path, {**hidden, "first_name": "A", "last_name": "B", "email": "a@example.org",
                                 "employer": "ACME", "consent_data_processing": "on"})
    assert refused.status_code == 409 and "This programme is not offered." in refused.text
    with db.session_scope(service.config.database_url) as session:
        programme = session.get(RegProgramme, service.programmes["Project Management Essentials"])
        programme.active, programme.opens_at = True, utcnow() + timedelta(days=3)
    assert "Not open now" in person.get("/").text
    refused = person.post(path, {**hidden, "first_name": "A", "last_name": "B", "email": "a@example.org",
                                 "employer": "ACME", "consent_data_processing": "on"})
    assert refused.status_code == 409 and "not open for registration now" in refused.text
    with db.session_scope(service.config.database_url) as session:
        assert session.query(RegRegistration).count() == 0


def test_a_second_registration_of_the_same_address_is_refused_an_unconfirmed_one_resent(service):
    person = service.visitor(**{"Accept-Language": "en"})
    first = person.register("Data Analysis with Python", {**SUMMER_ANSWERS, "email": "anna@example.org"})
    again = person.register("Data Analysis with Python", {**SUMMER_ANSWERS, "email": "anna@example.org",
                                                          "first_name": "Anya"})
    assert first.status_code == again.status_code == 200
    assert len(service.inbox.to("anna@example.org")) == 2  # a new link for the same registration
    with db.session_scope(service.config.database_url) as session:
        assert [r.answers["first_name"] for r in session.query(RegRegistration)] == ["Anya"]
    assert person.follow_form(service.inbox.link("anna@example.org", "confirm")).status_code == 200
    third = person.register("Data Analysis with Python", {**SUMMER_ANSWERS, "email": "anna@example.org"})
    assert third.status_code == 409 and "already registered for this programme" in third.text


def test_no_mail_server_keeps_the_registration_and_says_so(service_factory, sqlite_url):
    service = service_factory(sqlite_url, SMTP_PORT="1")  # nothing listens there
    page = service.visitor(**{"Accept-Language": "en"}).register(
        "Data Analysis with Python", {**SUMMER_ANSWERS, "email": "anna@example.org"})
    assert page.status_code == 503 and "could not be sent just now" in page.text
    with db.session_scope(sqlite_url) as session:
        assert session.query(RegRegistration).one().status == "unconfirmed"
