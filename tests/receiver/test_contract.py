"""The contract's JSON Schemas themselves: formats really checked, limits where the CRM has them."""

from __future__ import annotations

from crmsync import contract
from tests.receiver.conftest import message


def errors_of(document: dict) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for error in contract.validator_for(document["type"]).iter_errors(document):
        found.setdefault(".".join(str(p) for p in error.absolute_path), []).append(error.message)
    return found


def test_date_time_format_is_really_checked():
    """jsonschema skips `format: date-time` silently unless rfc3339-validator is installed."""
    assert errors_of(message()) == {}
    assert "occurred_at" in errors_of(message(occurred_at="2026-02-30T00:00:00Z"))
    assert "occurred_at" in errors_of(message(occurred_at="2026-01-01T24:00:00Z"))
