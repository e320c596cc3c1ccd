"""Forms as data: a project's YAML declaration gives both the rendered form and its server-side validation.

A declaration (registration/declarations/<key>.yaml, or REGISTRATION_DECLARATIONS_DIR) is itself checked
against DECLARATION_SCHEMA when it is loaded, so a mistake in one fails with its file and place named.
`answer_schema` turns it into a JSON Schema of the answers; the same schema judges every submission, and
the template (templates/form.html) renders the same fields: one declaration, no per-course template.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jsonschema
import yaml

SHIPPED = Path(__file__).with_name("declarations")
FIELD_TYPES = ("text", "email", "date", "select", "multiselect", "checkbox", "textarea", "phone")
LANGUAGES = ("en", "ru")
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ()./-]{4,22}[0-9]$"
# Longest value of a field without its own max_length (a textarea's, and every other type's).
DEFAULT_MAX = {"textarea": 5000}
DEFAULT_MAX_LENGTH = 300

_text = {"oneOf": [{"type": "string", "minLength": 1},
                   {"type": "object", "minProperties": 1, "propertyNames": {"enum": list(LANGUAGES)},
                    "additionalProperties": {"type": "string"}}]}
DECLARATION_SCHEMA = {
    "type": "object",
    "required": ["version", "fields", "consents"],
    "additionalProperties": False,
    "properties": {
        "version": {"type": ["string", "integer"]},
        "title": _text,
        "fields": {"type": "array", "minItems": 1, "items": {
            "type": "object", "required": ["name", "type", "label"], "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,47}$"},
                "type": {"enum": list(FIELD_TYPES)},
                "required": {"type": "boolean"},
                "label": _text, "help": _text,
                "choices": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["value", "label"], "additionalProperties": False,
                    "properties": {"value": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}, "label": _text}}},
                "validation": {"type": "object", "additionalProperties": False, "properties": {
                    "regex": {"type": "string"}, "message": _text,
                    "min_length": {"type": "integer", "minimum": 0},
                    "max_length": {"type": "integer", "minimum": 1}}},
            },
            "allOf": [{"if": {"properties": {"type": {"enum": ["select", "multiselect"]}}},
                       "then": {"required": ["choices"]}}],
        }},
        "consents": {"type": "object", "required": ["version", "items"], "additionalProperties": False,
                     "properties": {"version": {"type": ["string", "integer"]},
                                    "items": {"type": "array", "minItems": 1, "items": {
                                        "type": "object", "required": ["name", "text"], "additionalProperties": False,
                                        "properties": {"name": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,47}$"},
                                                       "required": {"type": "boolean"}, "text": _text}}}}},
    },
}


class DeclarationError(ValueError):
    """A declaration file is missing or malformed; the message names the file and the place."""


def localised(text, language: str) -> str:
    """A declaration's text in the language (English, then any, when it has none in that language)."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    return text.get(language) or text.get("en") or next(iter(text.values()), "")


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    label: object
    help: object
    choices: tuple[tuple[str, object], ...]
    regex: str | None
    regex_message: object
    min_length: int | None
    max_length: int

    @property
    def is_group(self) -> bool:
        """Rendered as a fieldset with a legend (several inputs answer one question)."""
        return self.type == "multiselect"


@dataclass(frozen=True)
class Consent:
    name: str
    required: bool
    text: object

    @property
    def input_name(self) -> str:
        return f"consent_{self.name}"


@dataclass(frozen=True)
class Declaration:
    key: str
    version: str
    title: object
    fields: tuple[Field, ...]
    consent_version: str
    consents: tuple[Consent, ...]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


def _declaration(key: str, data: dict, where: str) -> Declaration:
    errors = sorted(jsonschema.Draft202012Validator(DECLARATION_SCHEMA).iter_errors(data), key=lambda e: e.path)
    if errors:
        first = errors[0]
        place = "/".join(str(p) for p in first.absolute_path) or "(top)"
        raise DeclarationError(f"{where}: {place}: {first.message}")
    fields = []
    for item in data["fields"]:
        rules = item.get("validation", {})
        if "regex" in rules:
            try:
                re.compile(rules["regex"])
            except re.error as exc:
                raise DeclarationError(f"{where}: field {item['name']}: bad regex: {exc}") from None
        fields.append(Field(
            name=item["name"], type=item["type"], required=bool(item.get("required", False)), label=item["label"],
            help=item.get("help"), choices=tuple((c["value"], c["label"]) for c in item.get("choices", ())),
            regex=rules.get("regex"), regex_message=rules.get("message"), min_length=rules.get("min_length"),
            max_length=rules.get("max_length", DEFAULT_MAX.get(item["type"], DEFAULT_MAX_LENGTH))))
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise DeclarationError(f"{where}: two fields have the same name")
    email = next((f for f in fields if f.name == "email"), None)
    if email is None or email.type != "email" or not email.required:
        raise DeclarationError(f"{where}: a required field `email` of type email is needed (the address confirmed)")
    consents = data["consents"]
    return Declaration(key=key, version=str(data["version"]), title=data.get("title"), fields=tuple(fields),
                       consent_version=str(consents["version"]),
                       consents=tuple(Consent(c["name"], bool(c.get("required", False)), c["text"])
                                      for c in consents["items"]))


@lru_cache(maxsize=64)
def _load_file(path: Path, mtime: float) -> Declaration:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise DeclarationError(f"{path.name}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise DeclarationError(f"{path.name}: expected a mapping at the top")
    return _declaration(path.stem, data, path.name)


def load(key: str, extra_dir: str = "") -> Declaration:
    """The declaration `key` (REGISTRATION_DECLARATIONS_DIR first, then the shipped ones; `default` when
    neither has it). Re-read when its file changes, so staff's edits apply without a restart."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", key):
        key = "default"
    for folder in ([Path(extra_dir)] if extra_dir else []) + [SHIPPED]:
        for name in (key, "default"):
            path = folder / f"{name}.yaml"
            if path.is_file():
                return _load_file(path, path.stat().st_mtime)
    raise DeclarationError(f"no declaration {key!r} and no default.yaml")


def answer_schema(declaration: Declaration) -> dict:
    """The JSON Schema the answers of a submission must meet."""
    properties: dict[str, dict] = {}
    required = []
    for field in declaration.fields:
        if field.type == "checkbox":
            schema: dict = {"type": "boolean"}
            if field.required:
                schema["const"] = True
        elif field.type == "multiselect":
            schema = {"type": "array", "uniqueItems": True, "items": {"enum": [v for v, _ in field.choices]}}
            if field.required:
                schema["minItems"] = 1
        elif field.type == "select":
            schema = {"enum": [v for v, _ in field.choices]}
        else:
            schema = {"type": "string", "maxLength": field.max_length}
            if field.min_length:
                schema["minLength"] = field.min_length
            pattern = {"email": EMAIL_PATTERN, "phone": PHONE_PATTERN}.get(field.type, field.regex)
            if pattern:
                schema["pattern"] = pattern
            if field.type == "date":
                schema["format"] = "date"
        properties[field.name] = schema
        if field.required:
            required.append(field.name)
    for consent in declaration.consents:
        properties[consent.input_name] = {"const": True} if consent.required else {"type": "boolean"}
        if consent.required:
            required.append(consent.input_name)
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def parse(declaration: Declaration, form: Mapping) -> dict:
    """The answers in a submitted form (a werkzeug MultiDict): only declared fields, strings stripped,
    empty ones left out, checkboxes as booleans, multiselects as lists."""
    answers: dict = {}
    for field in declaration.fields:
        if field.type == "checkbox":
            answers[field.name] = form.get(field.name) is not None
        elif field.type == "multiselect":
            values = [v.strip() for v in form.getlist(field.name) if v.strip()]
            if values:
                answers[field.name] = values
        else:
            value = (form.get(field.name) or "").strip()
            if field.type != "textarea":
                value = " ".join(value.split())
            if field.type == "email":
                value = value.lower()
            if value:
                answers[field.name] = value
    for consent in declaration.consents:
        if form.get(consent.input_name) is not None:
            answers[consent.input_name] = True
    return answers


def _unstorable(value) -> bool:
    # A NUL or a lone surrogate reaches no database (PostgreSQL refuses NUL in text).
    texts = value if isinstance(value, list) else [value]
    return any(isinstance(t, str) and ("\x00" in t or re.search(r"[\ud800-\udfff]", t)) for t in texts)


def validate(declaration: Declaration, answers: dict, gettext: Callable[..., str], language: str) -> dict[str, str]:
    """{input name: message} for every answer the declaration refuses (empty: all good)."""
    errors: dict[str, str] = {}
    for name, value in answers.items():
        if _unstorable(value):
            errors[name] = gettext("This contains characters that cannot be stored.")
    validator = jsonschema.Draft202012Validator(answer_schema(declaration), format_checker=jsonschema.FormatChecker())
    for error in validator.iter_errors(answers):
        if error.validator == "required":
            name = error.message.split("'")[1]
        elif error.absolute_path:
            name = str(error.absolute_path[0])
        else:
            continue
        if name in errors:
            continue
        errors[name] = _message(declaration, name, error, gettext, language)
    return errors


def _message(declaration: Declaration, name: str, error, gettext, language: str) -> str:
    field = declaration.field(name)
    kind = error.validator
    if kind in ("required", "const", "minItems"):
        if name.startswith("consent_"):
            return gettext("Please give this consent to register.")
        if field and field.type == "multiselect":
            return gettext("Please choose at least one.")
        return gettext("Please fill this in.")
    if kind == "maxLength":
        return gettext("Please use at most %(n)s characters.", n=field.max_length)
    if kind == "minLength":
        return gettext("Please use at least %(n)s characters.", n=field.min_length)
    if kind in ("enum", "uniqueItems"):
        return gettext("Please choose one of the options.")
    if kind == "format" or (field and field.type == "date"):
        return gettext("Please give a date such as 2001-12-31.")
    if field and field.type == "email":
        return gettext("Please give an e-mail address such as name@example.org.")
    if field and field.type == "phone":
        return gettext("Please give a phone number such as +44 20 7946 0958.")
    if field and field.regex_message:
        return localised(field.regex_message, language)
    return gettext("This value is not accepted.")
