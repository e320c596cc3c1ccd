"""The event contract shared by the Moodle plugin, the receiver and the connector.

The JSON Schemas under ``schemas/`` are the single source: one file per message ``type`` (each an
envelope plus a ``data`` definition from ``schemas/defs/``).  The plugin's PHP tests and the
Python side read the same files.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator, validators
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).with_name("schemas")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        schema = _load(path)
        # Without "$schema", jsonschema keeps validating a referenced file with the validator it is
        # using (ContractValidator) instead of switching to the stock one its "$schema" names.
        contents = {key: value for key, value in schema.items() if key != "$schema"}
        resources.append((schema["$id"], Resource(contents=contents, specification=DRAFT202012)))
    return Registry().with_resources(resources)


@cache
def message_types() -> tuple[str, ...]:
    """Every message type the contract defines, e.g. ``user.updated``."""
    return tuple(sorted(p.stem for p in SCHEMA_DIR.glob("*.json") if p.stem != "envelope"))


def schema_for(message_type: str) -> dict:
    if message_type not in message_types():
        raise KeyError(message_type)
    return _load(SCHEMA_DIR / f"{message_type}.json")


def _whole_number(_checker, instance) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


# Draft 2020-12 counts 3.0 as an integer; the contract does not: the connector builds CRM record keys
# from ids ("course:3"), and "course:3.0" would be another record. The plugin writes integers as such.
ContractValidator = validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _whole_number))


@cache
def validator_for(message_type: str) -> Draft202012Validator:
    return ContractValidator(schema_for(message_type), registry=registry(),
                             format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def envelope_validator() -> Draft202012Validator:
    return ContractValidator(_load(SCHEMA_DIR / "envelope.json"), registry=registry(),
                             format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def control_character_patterns() -> frozenset[str]:
    """The patterns of the shared string rules that refuse control characters (defs/*_line.json)."""
    return frozenset(_load(SCHEMA_DIR / "defs" / name)["pattern"] for name in ("single_line.json", "multi_line.json"))
