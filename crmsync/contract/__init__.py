"""The event contract shared by the Moodle plugin, the receiver and the connector.

The JSON Schemas under ``schemas/`` are the single source: one file per message ``type`` (each an
envelope plus a ``data`` definition from ``schemas/defs/``).  The plugin's PHP tests and the
Python side read the same files.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

SCHEMA_DIR = Path(__file__).with_name("schemas")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    resources = []
    for path in sorted(SCHEMA_DIR.rglob("*.json")):
        schema = _load(path)
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@cache
def message_types() -> tuple[str, ...]:
    """Every message type the contract defines, e.g. ``user.updated``."""
    return tuple(sorted(p.stem for p in SCHEMA_DIR.glob("*.json") if p.stem != "envelope"))


def schema_for(message_type: str) -> dict:
    if message_type not in message_types():
        raise KeyError(message_type)
    return _load(SCHEMA_DIR / f"{message_type}.json")


@cache
def validator_for(message_type: str) -> Draft202012Validator:
    return Draft202012Validator(schema_for(message_type), registry=registry(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def envelope_validator() -> Draft202012Validator:
    return Draft202012Validator(_load(SCHEMA_DIR / "envelope.json"), registry=registry(),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def control_character_patterns() -> frozenset[str]:
    """The patterns of the shared string rules that refuse control characters (defs/*_line.json)."""
    return frozenset(_load(SCHEMA_DIR / "defs" / name)["pattern"] for name in ("single_line.json", "multi_line.json"))
