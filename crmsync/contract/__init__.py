"""The event contracts shared by the senders (the Moodle plugin, the SuiteCRM package), the receiver
and the connector.

The JSON Schemas under ``schemas/`` are the single source: one file per message ``type`` (each an
envelope plus a ``data`` definition from ``schemas/defs/``) for Moodle's messages, and the same
under ``schemas/crm/`` for the CRM's.  The PHP tests and the Python side read the same files.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import jsonschema_rs

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from referencing import Registry

SCHEMA_DIR = Path(__file__).with_name("schemas")

# Who sent a message: each origin has its own schemas, its own webhook secrets and its own job.
MOODLE = "moodle"
CRM = "crm"
ORIGINS = (MOODLE, CRM)
_DIRS = {MOODLE: SCHEMA_DIR, CRM: SCHEMA_DIR / "crm"}

# A CRM's messages are stored under the site id "crm:<its id>", and the Moodle envelope refuses a site
# id with this prefix: the two can never meet in a table keyed by site (inbox, subject states, id map).
CRM_SITE_PREFIX = "crm:"


def site_id(origin: str, message: dict) -> str:
    """The site a valid message of this origin is stored under."""
    return CRM_SITE_PREFIX + message["crm"]["id"] if origin == CRM else message["site"]["id"]


def origin_of(stored_site_id: str) -> str:
    return CRM if stored_site_id.startswith(CRM_SITE_PREFIX) else MOODLE


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    from referencing import Registry as _Registry
    from referencing import Resource
    from referencing.jsonschema import DRAFT202012

    resources = []
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        schema = _load(path)
        # Without "$schema", jsonschema keeps validating a referenced file with the validator it is
        # using (the contract's, _contract_validator) instead of switching to the stock one its "$schema" names.
        contents = {key: value for key, value in schema.items() if key != "$schema"}
        resources.append((schema["$id"], Resource(contents=contents, specification=DRAFT202012)))
    return _Registry().with_resources(resources)


@cache
def message_types(origin: str = MOODLE) -> tuple[str, ...]:
    """Every message type an origin's contract defines, e.g. ``user.updated``, ``contact.updated``."""
    return tuple(sorted(p.stem for p in _DIRS[origin].glob("*.json") if p.stem != "envelope"))


def schema_for(message_type: str, origin: str = MOODLE) -> dict:
    if message_type not in message_types(origin):
        raise KeyError(message_type)
    return _load(_DIRS[origin] / f"{message_type}.json")


def _whole_number(_checker, instance) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def _contract_validator(schema_file: Path) -> Draft202012Validator:
    """jsonschema's validator of one schema file, with the contract's integer rule.

    jsonschema is imported here, not above: a receiver process needs it only for the reasons of a refusal
    (fast_validator_for answers the rest), and is some megabytes smaller until then.
    """
    from jsonschema import Draft202012Validator, validators

    # Draft 2020-12 counts 3.0 as an integer; the contract does not: the connector builds CRM record keys
    # from ids ("course:3"), and "course:3.0" would be another record. The plugin writes integers as such.
    contract_validator = validators.extend(
        Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _whole_number))
    return contract_validator(_load(schema_file), registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def validator_for(message_type: str, origin: str = MOODLE) -> Draft202012Validator:
    if message_type not in message_types(origin):
        raise KeyError(message_type)
    return _contract_validator(_DIRS[origin] / f"{message_type}.json")


def envelope_validator(origin: str = MOODLE) -> Draft202012Validator:
    return _contract_validator(_DIRS[origin] / "envelope.json")


# The fast validator (jsonschema-rs, compiled) needs absolute URIs; the schemas' own ids are relative paths.
_FAST_BASE = "https://contract.crmsync.invalid/"
# Keywords whose values are data, not subschemas: the whole-number marker must not be written into them.
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})


class _WholeNumber:
    """The fast validator's side of the contract's integer rule (_whole_number): 3.0 is not an integer."""

    def __init__(self, _parent_schema, _value, _schema_path):
        pass

    def validate(self, instance) -> None:
        if isinstance(instance, float):
            raise ValueError(f"{instance!r} is not of type 'integer'")


def _marked(node):
    """A schema with `x-whole-number` beside every integer type (draft 2020-12 counts 3.0 as one)."""
    if isinstance(node, list):
        return [_marked(item) for item in node]
    if not isinstance(node, dict):
        return node
    marked = {key: value if key in _DATA_KEYWORDS else _marked(value) for key, value in node.items()}
    kind = node.get("type")
    if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
        marked["x-whole-number"] = True
    return marked


def _fast_resource(schema: dict) -> dict:
    contents = _marked({key: value for key, value in schema.items() if key != "$schema"})
    contents["$id"] = _FAST_BASE + schema["$id"]
    return contents


@cache
def _fast_registry() -> jsonschema_rs.Registry:
    resources = [_fast_resource(_load(path)) for path in sorted(SCHEMA_DIR.rglob("*.json"))]
    return jsonschema_rs.Registry([(r["$id"], r) for r in resources], draft=jsonschema_rs.Draft202012)


@cache
def fast_validator_for(message_type: str, origin: str = MOODLE) -> jsonschema_rs.Validator:
    """A compiled validator of the same schema, about fifty times faster than `validator_for`.

    It only answers valid or not: the receiver asks it first and asks `validator_for` for the reasons
    of what it refuses, so an answer's errors are always jsonschema's. It must never accept what
    `validator_for` refuses (tests/receiver/test_contract.py compares the two on generated messages);
    where it is stricter (Rust's `$` does not match before a final newline), `validator_for` decides.
    """
    return jsonschema_rs.Draft202012Validator(
        _fast_resource(schema_for(message_type, origin)), registry=_fast_registry(), validate_formats=True,
        keywords={"x-whole-number": _WholeNumber})


@cache
def control_character_patterns() -> frozenset[str]:
    """The patterns of the shared string rules that refuse control characters (defs/*_line.json)."""
    return frozenset(_load(SCHEMA_DIR / "defs" / name)["pattern"] for name in ("single_line.json", "multi_line.json"))
