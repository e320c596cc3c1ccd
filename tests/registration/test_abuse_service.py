"""Abuse and bad input: CSRF, the spam trap, rate limits per address and per e-mail, the size limit,
unstorable characters; and no personal data in the log."""

from __future__ import annotations

import logging

from crmsync import db
from crmsync.models import RegRegistration
from tests.registration.conftest import SUMMER_ANSWERS


def _count(service) -> int:
    with db.session_scope(service.config.database_url) as session:
        return session.query(RegRegistration).count()


def test_a_post_without_the_csrf_token_is_refused(service):
    person = service.visitor(**{"Accept-Language": "en"})
    path, hidden = person.open_form("Data Analysis with Python")
    hidden.pop("csrf_token")
    refused = person.post(path, {**hidden, **SUMMER_ANSWERS, "email": "anna@example.org"})
    assert refused.status_code == 400 and "This form has expired" in refused.text
    stranger = service.visitor()  # another browser replaying someone's token: its session has none
    _, others = person.open_form("Data Analysis with Python")
    refused = stranger.post(path, {**others, **SUMMER_ANSWERS, "email": "anna@example.org"})
    assert refused.status_code == 400
    assert _count(service) == 0


def test_the_honeypot_and_a_too_quick_submission_are_refused(service_factory):
    service = service_factory(REGISTRATION_MIN_FILL_SECONDS="3600")
    person = service.visitor(**{"Accept-Language": "en"})
    quick = person.register("Data Analysis with Python", {**SUMMER_ANSWERS, "email": "anna@example.org"})
    assert quick.status_code == 400 and "quicker than a person can fill in this form" in quick.text
    assert 'value="anna@example.org"' in quick.text  # the answers are kept for the person to send again
    trapped = person.register("Data Analysis with Python", {**SUMMER_ANSWERS, "email": "anna@example.org",
                                                            "website": "http://spam.example"})
    assert trapped.status_code == 400 and "looks automated" in trapped.text
    path, hidden = person.open_form("Data Analysis with Python")
    forged = person.post(path, {**hidden, "form_started": "forged", **SUMMER_ANSWERS, "email": "a@example.org"})
    assert forged.status_code == 400 and "opened too long ago" in forged.text
    assert _count(service) == 0


def test_the_honeypot_is_hidden_from_people_and_the_keyboard(service):
    page = service.visitor().get(f"/programmes/{service.programmes['Data Analysis with Python']}").text
    assert '<div class="trap" aria-hidden="true">' in page and 'name="website" tabindex="-1"' in page


def test_rate_limit_per_client_address(service_factory):
    service = service_factory(REGISTRATION_SUBMISSIONS_PER_ADDRESS="2")
    person = service.visitor(**{"Accept-Language": "en"})
    for n in range(2):
        assert person.register("Data Analysis with Python",
                               {**SUMMER_ANSWERS, "email": f"p{n}@example.org"}).status_code == 200
    limited = person.register("Data Analysis with Python", {**SUMMER_ANSWERS, "email": "p3@example.org"})
    assert limited.status_code == 429 and "Too many attempts" in limited.text
    assert _count(service) == 2


def test_rate_limit_per_email_address(service_factory):
    service = service_factory(REGISTRATION_SUBMISSIONS_PER_EMAIL="1")
    assert service.visitor().register("Data Analysis with Python",
                                      {**SUMMER_ANSWERS, "email": "anna@example.org"}).status_code == 200
    other_browser = service.visitor(**{"Accept-Language": "en"})
    limited = other_browser.register("Russian for Beginners", {**SUMMER_ANSWERS, "email": "ANNA@example.org"})
    assert limited.status_code == 429
    asked = other_browser.post(f"/programmes/{service.programmes['Russian for Beginners']}/previous",
                               {**other_browser.open_form("Russian for Beginners")[1], "email": "anna@example.org"})
    assert asked.status_code == 429
    assert _count(service) == 1


def test_an_oversized_body_gets_the_413_page(service):
    person = service.visitor(**{"Accept-Language": "en"})
    path, hidden = person.open_form("Data Analysis with Python")
    too_big = person.post(path, {**hidden, **SUMMER_ANSWERS, "email": "a@example.org", "motivation": "x" * 70000})
    assert too_big.status_code == 413 and "larger than this form accepts" in too_big.text


def test_unstorable_characters_are_refused_with_a_message(service_factory, postgres_database):
    service = service_factory(postgres_database)
    with db.session_scope(postgres_database) as session:
        session.query(RegRegistration).delete()
    page = service.visitor(**{"Accept-Language": "en"}).register(
        "Data Analysis with Python", {**SUMMER_ANSWERS, "email": "a@example.org", "first_name": "An\x00na"})
    assert page.status_code == 422 and "characters that cannot be stored" in page.text


def test_no_personal_data_in_the_log(service, caplog):
    caplog.set_level(logging.DEBUG)
    person = service.visitor(**{"Accept-Language": "en"})
    answers = {**SUMMER_ANSWERS, "email": "siobhan.oneil@example.org", "first_name": "Siobhán",
               "last_name": "O'Neil", "phone": "+44 20 7946 0958", "motivation": "I love statistics a lot"}
    person.register("Data Analysis with Python", {**answers, "student_id": "bad"})  # refused: logged
    person.register("Data Analysis with Python", answers)
    person.follow_form(service.inbox.link("siobhan.oneil@example.org", "confirm"))
    fresh = service.visitor()
    fresh.post(f"/programmes/{service.programmes['Russian for Beginners']}/previous",
               {**fresh.open_form("Russian for Beginners")[1], "email": "siobhan.oneil@example.org"})
    fresh.follow_form(service.inbox.link("siobhan.oneil@example.org", "previous"))
    # What the service and its libraries logged (not the test's own SMTP server and HTTP client).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("mail.log", "urllib3")))
    assert "registration" in logged and "submitted for programme" in logged and "confirmed" in logged
    for value in ("siobhan", "oneil", "O'Neil", "Siobhán", "7946", "statistics a lot", "1990-04-01"):
        assert value.lower() not in logged.lower(), value


def test_consent_is_recorded_with_its_version_and_time(service):
    service.visitor().register("Data Analysis with Python", {**SUMMER_ANSWERS, "email": "a@example.org",
                                                             "consent_photos": "on"})
    with db.session_scope(service.config.database_url) as session:
        registration = session.query(RegRegistration).one()
        assert registration.consent_version == "summer-school-2026-03"
        assert registration.answers["_consents"] == ["data_processing", "photos"]
        assert registration.consent_at == registration.submitted_at
