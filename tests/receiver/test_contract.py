"""The contract's JSON Schemas themselves: formats really checked, limits where the CRM has them."""

from __future__ import annotations

import pytest
from hypothesis import given
from schemathesis import GenerationMode

from crmsync import contract
from tests.receiver.conftest import message
from tests.receiver.test_fuzz import _operation, _whole_numbers_as_integers, fuzz


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


COURSE = {"id": 2, "shortname": "CRM101", "fullname": "R&D <Basics> \"Q1\"", "idnumber": "C-101"}


def summary(**data) -> dict:
    return message(type="course_summary.updated", subject="course_summary:2", data={
        "courseid": 2, "course": COURSE, "learners": 12,
        "attendance": {"sessions": 2, "marks": 24, "present": 20, "late": 2, "excused": 1, "absent": 1},
        "activities": [{"itemid": 4, "cmid": 7, "name": "Essay 1", "module": "assign", "grademax": 100.0,
                        "gradepass": 50.0, "graded": 11, "average": 62.72727, "average_percentage": 62.73, "passed": 9},
                       {"itemid": 5, "cmid": None, "name": "Quiz", "module": "quiz", "grademax": 10.0,
                        "gradepass": 0.0, "graded": 0, "average": None, "average_percentage": None, "passed": 0}],
        "timegenerated": 1795344100, **data})


def test_a_course_summary_is_a_message_type_the_receiver_takes(receiver):
    assert "course_summary.updated" in contract.message_types()
    assert errors_of(summary()) == {}
    response = receiver.post(summary())
    assert response.status_code == 202 and response.json["accepted"] == 1


def test_a_course_summary_is_bounded_by_the_crm_fields_it_fills():
    activity = summary()["data"]["activities"][0]
    assert "data.learners" in errors_of(summary(learners=-1))
    assert "data.learners" in errors_of(summary(learners=2**31))
    assert "data.attendance" in errors_of(summary(attendance={"sessions": 2, "marks": 24}))
    assert "data.activities.0.name" in errors_of(summary(activities=[{**activity, "name": "n" * 256}]))
    assert "data.activities.0.module" in errors_of(summary(activities=[{**activity, "module": "m" * 51}]))
    assert "data.activities.0.average_percentage" in errors_of(
        summary(activities=[{**activity, "average_percentage": 10000.0}]))
    assert "data.activities.0" in errors_of(summary(activities=[{k: v for k, v in activity.items() if k != "cmid"}]))
    assert "data.course" in errors_of(summary(course={"id": 2}))
    assert "subject" in errors_of({**summary(), "subject": "course_summary:2:3"})


def test_messages_of_an_older_plugin_stay_valid():
    """`course` on learner records and `optional` on consents are new: messages without them still pass."""
    consent = message(type="consent.updated", subject="consent:3:1", data={
        "userid": 3, "policyversionid": 1, "policyid": 1, "policyname": "Privacy policy", "version": "v1.0",
        "status": "withdrawn", "onbehalfof": False, "timemodified": 1795345165})
    assert errors_of(consent) == {}
    assert errors_of({**consent, "data": {**consent["data"], "optional": True}}) == {}
    assert "data.optional" in errors_of({**consent, "data": {**consent["data"], "optional": 1}})
    completion = message(type="course_completion.updated", subject="course_completion:3:2", data={
        "userid": 3, "courseid": 2, "completed": False, "timecompleted": None})
    assert errors_of(completion) == {}
    assert errors_of({**completion, "data": {**completion["data"], "course": COURSE}}) == {}
    long_shortname = {**COURSE, "shortname": "s" * 240}
    # Only an enrolment's CRM name needs the shorter shortname.
    assert errors_of({**completion, "data": {**completion["data"], "course": long_shortname}}) == {}
    ended = message(type="enrolment.deleted", subject="enrolment:3:2", data={
        "userid": 3, "courseid": 2, "status": "deleted", "enrolments": [], "roles": [], "groups": [],
        "course": long_shortname})
    assert "data.course.shortname" in errors_of(ended)


def _documents(body) -> list:
    """The messages of a generated body: itself, or the events of a batch."""
    if isinstance(body, dict) and isinstance(body.get("events"), list) and "type" not in body:
        return body["events"]
    return [body]


def _agree(document, origin: str) -> None:
    """The compiled validator the receiver asks first never accepts what jsonschema's refuses."""
    if not isinstance(document, dict) or document.get("type") not in contract.message_types(origin):
        return
    if contract.fast_validator_for(document["type"], origin).is_valid(document):
        assert contract.validator_for(document["type"], origin).is_valid(document), document


def test_the_fast_validator_refuses_what_jsonschema_refuses():
    integral_float = message(data={"userid": 3.0, "courseid": 2, "lastaccess": 1})
    newline = message(subject="course_access:3:2\n")
    impossible_date = message(occurred_at="2026-02-30T00:00:00Z")
    valid = message()
    for document in (integral_float, newline, impossible_date, valid):
        _agree(document, contract.MOODLE)
    assert contract.fast_validator_for(valid["type"]).is_valid(valid)
    assert not contract.fast_validator_for(valid["type"]).is_valid(integral_float)


@pytest.mark.parametrize("path, origin", [("/webhooks/moodle", contract.MOODLE), ("/webhooks/crm", contract.CRM)])
@pytest.mark.parametrize("mode", [GenerationMode.NEGATIVE, GenerationMode.POSITIVE])
def test_the_fast_validator_agrees_with_jsonschema_on_generated_messages(path, origin, mode):
    operation = _operation(path)

    @fuzz(60 if mode == GenerationMode.NEGATIVE else 25)  # drawing from these schemas is slow
    @given(case=operation.as_strategy(mode))
    def check(case):
        for document in _documents(case.body):
            _agree(document, origin)
            if mode == GenerationMode.POSITIVE and isinstance(document, dict):
                # What jsonschema accepts, the fast one accepts too: else the receiver pays for jsonschema.
                whole = _whole_numbers_as_integers(document)
                if contract.validator_for(whole["type"], origin).is_valid(whole):
                    assert contract.fast_validator_for(whole["type"], origin).is_valid(whole), whole

    check()
