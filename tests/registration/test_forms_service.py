"""Forms as data: declarations are checked when loaded; the answers' schema comes from the same
declaration; the link tokens are stored hashed and work once, until they expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from werkzeug.datastructures import MultiDict

from crmsync import db
from crmsync.models import RegToken, utcnow
from registration import forms, tokens

GOOD = """
version: 1
fields:
  - {name: email, type: email, required: true, label: E-mail}
  - {name: colour, type: select, required: true, label: {en: Colour, ru: Цвет},
     choices: [{value: red, label: Red}, {value: blue, label: {en: Blue, ru: Синий}}]}
consents: {version: c1, items: [{name: terms, required: true, text: I agree}]}
"""


def _write(tmp_path, text: str, key: str = "custom") -> str:
    (tmp_path / f"{key}.yaml").write_text(text, encoding="utf-8")
    return str(tmp_path)


def test_every_shipped_declaration_loads():
    for path in forms.SHIPPED.glob("*.yaml"):
        assert forms.load(path.stem).key == path.stem


def test_a_folder_declaration_replaces_and_unknown_keys_fall_back_to_default(tmp_path):
    folder = _write(tmp_path, GOOD)
    declaration = forms.load("custom", folder)
    assert [f.name for f in declaration.fields] == ["email", "colour"]
    assert forms.localised(declaration.field("colour").choices[1][1], "ru") == "Синий"
    assert forms.load("no-such-project", folder).key == "default"


@pytest.mark.parametrize("change, message", [
    (GOOD.replace("type: select", "type: slider"), "fields/1/type"),
    (GOOD.replace("{name: email, type: email, required: true, label: E-mail}",
                  "{name: mail, type: email, required: true, label: E-mail}"), "required field `email`"),
    (GOOD.replace(",\n     choices: [{value: red, label: Red}, {value: blue, label: {en: Blue, ru: Синий}}]", ""),
     "choices"),
    (GOOD + "\nextra: 1\n", "Additional properties"),
    (GOOD.replace("label: E-mail}", "label: E-mail, validation: {regex: '[a-'}}"), "bad regex"),
    ("fields: [", "not valid YAML"),
])
def test_a_bad_declaration_fails_naming_the_place(tmp_path, change, message):
    with pytest.raises(forms.DeclarationError, match="custom.yaml") as failed:
        forms.load("custom", _write(tmp_path, change))
    assert message in str(failed.value)


def test_the_answer_schema_is_the_declaration(tmp_path):
    declaration = forms.load("custom", _write(tmp_path, GOOD))
    schema = forms.answer_schema(declaration)
    assert schema["required"] == ["email", "colour", "consent_terms"]
    assert schema["properties"]["colour"] == {"enum": ["red", "blue"]}
    answers = forms.parse(declaration, MultiDict({"email": " A@Example.ORG ", "colour": "green", "other": "x"}))
    assert answers == {"email": "a@example.org", "colour": "green"}  # undeclared inputs are dropped

    def gettext(text, **values):
        return text % values if values else text

    assert forms.validate(declaration, answers, gettext, "en") == {
        "colour": "Please choose one of the options.", "consent_terms": "Please give this consent to register."}


def test_tokens_are_hashed_at_rest_single_use_and_expire(sqlite_url):
    with db.session_scope(sqlite_url) as session:
        token = tokens.issue(session, tokens.MAGIC, "a@example.org", timedelta(minutes=30))
    with db.session_scope(sqlite_url) as session:
        stored = session.query(RegToken).one()
        assert stored.token_hash == tokens.digest(token) and token not in stored.token_hash
        assert tokens.find(session, tokens.CONFIRM, token) is None  # another kind
        assert tokens.find(session, tokens.MAGIC, token, now=utcnow() + timedelta(minutes=31)) is None
        assert tokens.use(session, tokens.MAGIC, token) is not None
    with db.session_scope(sqlite_url) as session:
        assert tokens.use(session, tokens.MAGIC, token) is None


def test_a_broken_declaration_is_a_503_page_and_a_log_line(service_factory, tmp_path, caplog):
    folder = _write(tmp_path, GOOD.replace("type: select", "type: slider"), "summer-school")
    service = service_factory(REGISTRATION_DECLARATIONS_DIR=folder)
    page = service.visitor(**{"Accept-Language": "en"}).get(
        f"/programmes/{service.programmes['Data Analysis with Python']}")
    assert page.status_code == 503 and "This form is being updated" in page.text
    assert "summer-school.yaml: fields/1/type" in caplog.text
