"""Returning people: previous answers are filled in only after the magic link is followed, in that
browser, from that address's own last confirmed registration in the project; never anyone else's."""

from __future__ import annotations

from lxml import html as lxml_html

from tests.registration.conftest import SUMMER_ANSWERS

ANNA = {**SUMMER_ANSWERS, "email": "anna@example.org", "first_name": "Anna", "phone": "+7 495 123-45-67",
        "consent_photos": "on"}
BORIS = {**SUMMER_ANSWERS, "email": "boris@example.org", "first_name": "Boris", "last_name": "Petrov",
         "level": "advanced", "topics": ["programming"]}


def _registered_and_confirmed(service, answers: dict, programme: str = "Data Analysis with Python") -> None:
    person = service.visitor()
    assert person.register(programme, answers).status_code == 200
    assert person.follow_form(service.inbox.link(answers["email"], "confirm")).status_code == 200


def _values(page: str) -> dict[str, object]:
    form = lxml_html.fromstring(page).forms[0]
    return {k: v for k, v in form.form_values() if k not in ("csrf_token", "form_started")}


def _ask_link(person, service, programme: str, address: str):
    path = f"/programmes/{service.programmes[programme]}"
    return person.post(f"{path}/previous", {**person.hidden(person.get(path).text, 1), "email": address})


def test_previous_answers_only_after_the_magic_link(service):
    _registered_and_confirmed(service, ANNA)
    anna = service.visitor(**{"Accept-Language": "en"})
    before = anna.get(f"/programmes/{service.programmes['Russian for Beginners']}").text
    assert "Anna" not in before and "anna@example.org" not in before
    asked = _ask_link(anna, service, "Russian for Beginners", "Anna@Example.org")
    assert asked.status_code == 200 and "If you registered for this project before" in asked.text
    still = anna.get(f"/programmes/{service.programmes['Russian for Beginners']}").text
    assert "anna@example.org" not in still  # asking proves nothing
    filled = anna.follow_form(service.inbox.link("anna@example.org", "previous"))
    assert filled.url.endswith(f"/programmes/{service.programmes['Russian for Beginners']}")
    assert "We have filled in your previous answers" in filled.text
    values = _values(filled.text)
    assert (values["first_name"], values["email"], values["phone"], values["level"]) == \
        ("Anna", "anna@example.org", "+7 495 123-45-67", "beginner")
    assert [v for k, v in lxml_html.fromstring(filled.text).forms[0].form_values() if k == "topics"] == \
        ["statistics", "languages"]
    assert "consent_data_processing" not in values and "consent_photos" not in values  # given afresh
    # The link worked once and only in the browser that followed it.
    assert anna.get(service.inbox.link("anna@example.org", "previous")).status_code == 404
    other_browser = service.visitor()
    assert "anna@example.org" not in other_browser.get(
        f"/programmes/{service.programmes['Russian for Beginners']}").text


def test_a_second_address_gets_nothing_of_the_first(service):
    _registered_and_confirmed(service, ANNA)
    _registered_and_confirmed(service, BORIS, "Russian for Beginners")
    boris = service.visitor()
    _ask_link(boris, service, "Data Analysis with Python", "boris@example.org")
    page = boris.follow_form(service.inbox.link("boris@example.org", "previous")).text
    values = _values(page)
    assert (values["first_name"], values["email"], values["level"]) == ("Boris", "boris@example.org", "advanced")
    for anna_value in ("Anna", "anna@example.org", "+7 495 123-45-67", "Иванова"):
        assert anna_value not in page
    # An address with no confirmed registration gets no mail at all, and the same page as any other.
    nobody = service.visitor()
    before = len(service.inbox.messages)
    asked = _ask_link(nobody, service, "Data Analysis with Python", "carol@example.org")
    assert asked.status_code == 200 and "If you registered for this project before" in asked.text
    assert len(service.inbox.messages) == before


def test_unconfirmed_answers_are_never_offered(service):
    mallory = service.visitor()
    mallory.register("Data Analysis with Python", {**ANNA, "first_name": "Typed by someone else"})
    anna = service.visitor()
    before = len(service.inbox.messages)
    _ask_link(anna, service, "Russian for Beginners", "anna@example.org")
    assert len(service.inbox.messages) == before  # nothing confirmed: no link


def test_answers_from_another_project_are_not_offered(service):
    _registered_and_confirmed(service, ANNA)
    anna = service.visitor()
    before = len(service.inbox.messages)
    _ask_link(anna, service, "Project Management Essentials", "anna@example.org")
    assert len(service.inbox.messages) == before
