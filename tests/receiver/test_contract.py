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


def test_an_ended_enrolment_lists_what_the_connector_writes():
    """The connector writes methods, roles and groups from what the message says: they must be there."""
    ended = message(type="enrolment.deleted", subject="enrolment:3:2", data={
        "userid": 3, "courseid": 2, "status": "deleted", "enrolments": [], "roles": [], "groups": [],
        "course": {"id": 2, "shortname": "C", "fullname": "Course"}})
    assert errors_of(ended) == {}
    without = {**ended, "data": {k: v for k, v in ended["data"].items() if k != "enrolments"}}
    assert "data" in errors_of(without)
    with_a_bad_group = {**ended, "data": {**ended["data"], "groups": [{"id": 1}]}}
    assert "data.groups.0" in errors_of(with_a_bad_group)
    with_an_enrolment = {**ended, "data": {**ended["data"], "enrolments": [{"id": 1}]}}
    assert "data.enrolments" in errors_of(with_an_enrolment)


def test_whole_numbers_written_with_a_fraction_are_not_ids():
    assert "data.userid" in errors_of(message(data={"userid": 3.0, "courseid": 2, "lastaccess": 1}))
    assert errors_of(message(data={"userid": 3, "courseid": 2, "lastaccess": 1})) == {}
