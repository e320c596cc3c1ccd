"""Turn a verified request body into validated contract messages, or say exactly what is wrong."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from marshmallow import Schema, ValidationError, fields, validate

from crmsync import contract
from receiver.errors import InvalidMessages, MalformedJson


class BatchSchema(Schema):
    """`{"events": [...]}`: several messages in one signed POST."""

    events = fields.List(fields.Dict(), required=True, validate=validate.Length(min=1))


# What every database engine stores in a timestamp column (MariaDB's DATETIME starts in year 1000).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


@dataclass(frozen=True)
class Message:
    id: str
    type: str
    subject: str
    sequence: int
    site_id: str
    occurred_at: datetime
    payload: dict


# Where a decoded body can hold a NUL or a lone surrogate: only as a JSON escape (a raw NUL is not valid JSON,
# and a body that is not valid UTF-8 is refused before). A body without one needs no walk through its strings.
UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _contract_errors(message: object, origin: str, check_strings: bool) -> dict[str, list[str]]:
    if not isinstance(message, dict):
        return {"": ["a message must be a JSON object"]}
    message_type = message.get("type")
    if message_type not in contract.message_types(origin):
        errors = {"type": [f"unknown message type {message_type!r}"]}
        validator = contract.envelope_validator(origin)
    else:
        errors = {}
        # The compiled validator says "valid" in microseconds; jsonschema's, a millisecond a message,
        # is asked only for the reasons of a refusal (and has the last word where the two differ).
        valid = contract.fast_validator_for(message_type, origin).is_valid(message)
        validator = None if valid else contract.validator_for(message_type, origin)
    for error in validator.iter_errors(message) if validator else ():
        path = ".".join(str(part) for part in error.absolute_path)
        if error.validator == "pattern" and error.validator_value in contract.control_character_patterns():
            errors.setdefault(path, []).append("must not contain control characters")
        else:
            errors.setdefault(path, []).append(error.message)
    for path, problem in _unstorable(message) if check_strings else ():
        errors.setdefault(path, []).append(problem)
    if "occurred_at" not in errors and isinstance(message.get("occurred_at"), str) \
            and _occurred_at(message["occurred_at"]) is None:
        errors["occurred_at"] = [f"{message['occurred_at']!r} is not a UTC date and time from 1970 to 9999"]
    if origin == contract.CRM and not errors and message["subject"].partition(":")[2] != message["data"]["id"]:
        # The record a CRM message is ordered by (its subject) must be the one whose state it carries.
        errors["subject"] = [f"must name the record data.id ({message['data']['id']})"]
    return errors


def _unstorable(document: object) -> list[tuple[str, str]]:
    """Strings no database column can hold, anywhere in a message, also where the contract leaves
    the content open (`moodle_event`, extra members): NUL, which PostgreSQL refuses in text, and
    lone surrogates (JSON's \\ud800), which are not Unicode and cannot be encoded as UTF-8."""
    problems = []
    stack: list[tuple[str, object]] = [("", document)]
    while stack:  # iterative: as deep as json.loads goes, without a recursion limit of our own
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                inner = f"{path}.{key}" if path else str(key)
                if string_problem(key):
                    problems.append((path, f"member name {key!r} {string_problem(key)}"))
                else:
                    stack.append((inner, item))
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}" if path else str(index), item) for index, item in enumerate(value))
        elif isinstance(value, str) and string_problem(value):
            problems.append((path, string_problem(value)))
    return problems


def string_problem(text: str) -> str | None:
    """Why no database column can hold this string, or None."""
    if "\x00" in text:
        return "must not contain a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogate)"
    return None


def _occurred_at(text: str) -> datetime | None:
    """The schema's pattern and RFC 3339 check come first; this catches what they let through
    (a leap second, a year before 1970), so nothing reaches the database that it cannot store."""
    try:
        occurred = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if occurred.tzinfo is None or not EARLIEST <= occurred <= LATEST:
        return None
    return occurred


def _message(raw: dict, origin: str) -> Message:
    occurred = _occurred_at(raw["occurred_at"])
    return Message(id=raw["id"], type=raw["type"], subject=raw["subject"], sequence=raw["sequence"],
                   site_id=contract.site_id(origin, raw), occurred_at=occurred, payload=raw)


class _NonFiniteNumber(ValueError):
    """NaN, Infinity or a number too large for a float: Python's json accepts them, JSON does not,
    and no database's JSON column stores them."""


def _refuse_constant(name: str):
    raise _NonFiniteNumber(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    number = float(literal)
    if not math.isfinite(number):
        raise _NonFiniteNumber(f"{literal[:40]} is too large for a number")
    return number


def parse(body: bytes, webhook_id: str, max_events: int, origin: str = contract.MOODLE) -> list[Message]:
    """Validate a batch (or, from Moodle, a single message) against the origin's contract; all-or-nothing,
    so a batch is never half stored."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJson("body is not UTF-8") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except _NonFiniteNumber as exc:
        raise MalformedJson(f"body is not valid JSON: {exc}") from None
    except (ValueError, RecursionError):
        raise MalformedJson("body is not valid JSON") from None

    if origin == contract.CRM or (isinstance(document, dict) and "events" in document and "type" not in document):
        try:
            raw_messages = BatchSchema().load(document)["events"]
        except ValidationError as exc:
            raise InvalidMessages("invalid batch", exc.normalized_messages()) from None
        if len(raw_messages) > max_events:
            raise InvalidMessages(f"a batch holds at most {max_events} events", {"events": [f"{len(raw_messages)} given"]})
        prefix = "events.{}."
    else:
        raw_messages = [document]
        prefix = ""

    errors: dict[str, list[str]] = {}
    check_strings = UNSTORABLE_ESCAPE.search(text) is not None
    for index, raw in enumerate(raw_messages):
        for path, messages in _contract_errors(raw, origin, check_strings).items():
            errors[(prefix.format(index) + path).rstrip(".") or "body"] = messages
    if not prefix and not errors and raw_messages[0]["id"] != webhook_id:
        errors["id"] = ["must equal the webhook-id header"]
    if errors:
        raise InvalidMessages("invalid messages", errors)
    return [_message(raw, origin) for raw in raw_messages]
