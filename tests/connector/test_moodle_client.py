"""The Moodle web-service client against the Moodle sandbox over real HTTP: results, typed errors, retries, secrecy."""

from __future__ import annotations

import logging

import pytest

from crm_connector.moodle import (
    AuthError,
    FunctionNotAllowed,
    InvalidParameter,
    InvalidToken,
    MoodleClient,
    MoodleException,
    NoManualEnrolment,
    NotEnrolled,
    NotFound,
    PermanentError,
    PolicyNotAgreed,
    RoleNotAssignable,
    TransientError,
    Unavailable,
    UnknownFunction,
    retry_delay,
)
from crm_connector.moodle.client import encode
from moodle_sandbox.testing import MoodleSandboxProcess

RECORDED_NOW = 1795345068  # the recorded site's clock: its enrolments and sessions are current then


@pytest.fixture(scope="module")
def sandbox():
    with MoodleSandboxProcess(token="a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5") as process:
        yield process


@pytest.fixture
def moodle(sandbox):
    sandbox.reset()
    sandbox.issue_token("crm_sync", 2, token=sandbox.token)  # a test may have revoked it
    sandbox.clear_faults()
    sandbox.freeze_clock(RECORDED_NOW)
    return sandbox


@pytest.fixture
def client(moodle):
    return MoodleClient(moodle.url, moodle.token, timeout=3)


def enrolment(moodle, user_id, course_id):
    instances = {i["id"] for i in moodle.records("enrol") if i["courseid"] == course_id}
    return [e for e in moodle.records("user_enrolments") if e["userid"] == user_id and e["enrolid"] in instances]


def test_encoding_is_phps_nested_array_form():
    assert encode({"users": [{"id": 7, "suspended": True, "customfields": [{"type": "a", "value": "b"}]}],
                   "skip": None}) == [("users[0][id]", "7"), ("users[0][suspended]", "1"),
                                      ("users[0][customfields][0][type]", "a"),
                                      ("users[0][customfields][0][value]", "b")]


def test_site_info_and_users_by_field(client):
    info = client.get_site_info()
    assert info["username"] == "admin" and "enrol_manual_enrol_users" in {f["name"] for f in info["functions"]}
    users = client.get_users_by_field("email", ["bob.brown@example.invalid", "nobody@example.invalid"])
    assert [(u["id"], u["username"], u["customfields"][0]["value"]) for u in users] == [(4, "student2", "CRM-C-0002")]


def test_create_user_then_a_duplicate_username_is_an_invalid_parameter(client):
    created = client.create_users([{"username": "crm.new", "password": "Pw#123456", "firstname": "New",
                                    "lastname": "Person", "email": "new@example.invalid",
                                    "customfields": [{"type": "crmcontactid", "value": "CRM-C-9"}]}])
    assert created == [{"id": 7, "username": "crm.new"}]
    with pytest.raises(InvalidParameter) as raised:
        client.create_users([{"username": "crm.new", "password": "Pw#123456", "firstname": "N", "lastname": "P",
                              "email": "other@example.invalid"}])
    assert raised.value.errorcode == "invalidparameter" and "Username already exists: crm.new" in raised.value.detail
    assert isinstance(raised.value, PermanentError)


def test_update_reports_an_unknown_user_as_a_warning_and_updates_the_others(client, moodle):
    warnings = client.update_users([{"id": 9999, "firstname": "Ghost"}, {"id": 3, "firstname": "Alicia"}])
    assert [(w["itemid"], w["warningcode"]) for w in warnings] == [(9999, "invaliduserid")]
    assert next(u for u in moodle.records("user") if u["id"] == 3)["firstname"] == "Alicia"


def test_repeat_enrolment_succeeds_and_updates_the_enrolment(client, moodle):
    client.enrol_users([{"roleid": 5, "userid": 6, "courseid": 2, "timeend": 1810896911}])
    client.enrol_users([{"roleid": 5, "userid": 6, "courseid": 2, "timeend": 1810983311}])
    assert [e["timeend"] for e in enrolment(moodle, 6, 2)] == [1810983311]
    client.unenrol_users([{"userid": 6, "courseid": 2}])
    assert enrolment(moodle, 6, 2) == []


def test_enrolling_into_a_course_without_manual_enrolment_is_a_clear_error(client, moodle):
    with pytest.raises(NoManualEnrolment) as raised:
        client.enrol_users([{"roleid": 5, "userid": 6, "courseid": 1}])
    assert raised.value.course_ids == [1] and "manual enrolment" in raised.value.detail
    assert isinstance(raised.value, PermanentError) and not isinstance(raised.value, TransientError)
    assert enrolment(moodle, 6, 1) == []


def test_an_empty_500_for_a_course_that_has_manual_enrolment_is_a_server_failure(client, moodle):
    moodle.set_faults(error_rate=1.0, error_statuses=[500], functions=["enrol_manual_enrol_users"])
    with pytest.raises(TransientError) as raised:
        client.enrol_users([{"roleid": 5, "userid": 6, "courseid": 2}])
    assert not isinstance(raised.value, NoManualEnrolment) and raised.value.status == 500


def test_invalid_and_revoked_tokens(moodle):
    with pytest.raises(InvalidToken) as raised:
        MoodleClient(moodle.url, "0123456789abcdef0123456789abcdef").get_site_info()
    assert isinstance(raised.value, AuthError)
    other = MoodleClient(moodle.url, moodle.issue_token("crm_sync", 2))
    assert other.get_site_info()["userid"] == 2
    moodle.revoke_tokens()
    with pytest.raises(InvalidToken):
        other.get_site_info()
    moodle.reset()  # gives no token back: tokens are the operator's
    with pytest.raises(InvalidToken):
        other.get_site_info()


def test_a_site_policy_the_service_user_has_not_agreed_to_is_a_configuration_error(client, moodle):
    """Seen on a real Moodle 4.3: once a new site policy version went live, every call of the service user but
    site info answered sitepolicynotagreed, until someone accepts it for that user."""
    moodle.set_site_policy(2, agreed=False)
    assert client.get_site_info()["userid"] == 2
    with pytest.raises(PolicyNotAgreed) as raised:
        client.update_users([{"id": 3, "department": "Sales"}])
    assert isinstance(raised.value, AuthError)  # pauses writes to Moodle instead of dead-lettering each change
    assert "User agreements" in str(raised.value)  # says how to fix it
    moodle.set_site_policy(2, agreed=True)
    assert client.update_users([{"id": 3, "department": "Sales"}]) == []


def test_function_missing_from_the_service_and_unknown_function(client, moodle):
    functions = [f["name"] for f in client.get_site_info()["functions"]]
    moodle.set_service("crm_sync", functions=[f for f in functions if f != "core_group_create_groups"])
    with pytest.raises(FunctionNotAllowed) as raised:
        client.create_groups([{"courseid": 2, "name": "G", "description": ""}])
    assert "core_group_create_groups" in raised.value.detail and isinstance(raised.value, AuthError)
    with pytest.raises(UnknownFunction):
        client.call("local_nope_do_something")
    moodle.set_service("crm_sync", functions=functions)


def test_bad_parameters_not_found_and_not_enrolled(client, moodle):
    with pytest.raises(InvalidParameter) as raised:
        client.call("core_enrol_get_users_courses", {"userid": "abc"})
    assert 'the server was expecting "int" type' in raised.value.debuginfo
    with pytest.raises(NotEnrolled) as not_enrolled:
        client.get_course_completion_status(2, 6)
    assert not_enrolled.value.errorcode == "usernotenroled"
    moodle.set_service("crm_sync", functions=[*(f["name"] for f in client.get_site_info()["functions"]),
                                              "mod_attendance_get_session"])
    with pytest.raises(NotFound):
        client.call("mod_attendance_get_session", {"sessionid": 999})
    with pytest.raises(RoleNotAssignable) as other:
        client.enrol_users([{"roleid": 7, "userid": 6, "courseid": 2}])
    assert other.value.errorcode == "wsusercannotassign" and isinstance(other.value, MoodleException)


def test_groups_and_enrolled_users(client):
    group = client.create_groups([{"courseid": 2, "name": "From CRM", "description": "", "idnumber": "CRM-G-1"}])[0]
    assert group["name"] == "From CRM" and group in client.get_course_groups(2)
    client.add_group_members([{"groupid": group["id"], "userid": 3}])
    members = client.get_enrolled_users(2, groupid=group["id"], userfields=["id", "username"])
    assert [m["username"] for m in members] == ["student1"]
    client.delete_group_members([{"groupid": group["id"], "userid": 3}])
    assert client.get_enrolled_users(2, groupid=group["id"]) == []
    with pytest.raises(InvalidParameter):
        client.add_group_members([{"groupid": group["id"], "userid": 6}])  # not enrolled


def test_courses_and_completion(client):
    assert client.get_courses_by_field("shortname", "CRM101")[0]["id"] == 2
    assert client.get_courses_by_field("shortname", "NOPE") == []
    status = client.get_course_completion_status(2, 3)
    assert status["completed"] is True and status["completions"][0]["complete"] is True


def test_server_failures_are_transient_and_say_so(client, moodle):
    moodle.set_faults(error_rate=1.0, error_statuses=[503])
    with pytest.raises(Unavailable) as unavailable:
        client.get_site_info()
    assert unavailable.value.status == 503
    moodle.set_faults(throttle_rate=1.0, retry_after_seconds=7)
    with pytest.raises(Unavailable) as throttled:
        client.get_site_info()
    assert (throttled.value.status, throttled.value.retry_after) == (429, 7)
    assert retry_delay(throttled.value, attempt=1) == 7
    moodle.set_faults(reset_rate=1.0)
    with pytest.raises(Unavailable):
        client.get_site_info()
    moodle.set_faults(hang_rate=1.0, hang_seconds=5)
    with pytest.raises(TransientError) as timed_out:
        MoodleClient(moodle.url, moodle.token, timeout=0.5).get_site_info()
    assert timed_out.value.may_have_landed and not isinstance(timed_out.value, Unavailable)


def test_retry_delay_by_class():
    assert retry_delay(TransientError("x"), attempt=1, base=2) == 2
    assert retry_delay(TransientError("x"), attempt=4, base=2) == 16
    assert retry_delay(TransientError("x"), attempt=30, base=2, cap=60) == 60
    assert retry_delay(Unavailable("x", 429, retry_after=120), attempt=1, cap=60) == 60
    assert retry_delay(InvalidParameter("invalidparameter", "bad"), attempt=1) is None
    assert retry_delay(InvalidToken("x"), attempt=1) is None


def test_the_token_never_reaches_logs_errors_or_reprs(moodle, caplog):
    token = moodle.token
    client = MoodleClient(moodle.url, token, timeout=0.5)
    caught = []
    with caplog.at_level(logging.DEBUG):  # urllib3 logs every request line at DEBUG
        for faults in ({}, {"error_rate": 1.0}, {"reset_rate": 1.0}, {"hang_rate": 1.0, "hang_seconds": 2}):
            moodle.set_faults(**faults)
            try:
                client.call("core_enrol_get_users_courses", {"userid": "abc"})
            except Exception as exc:  # noqa: BLE001 - every failure kind is inspected below
                caught.append(exc)
                logging.getLogger("test").exception("call failed")
    assert len(caught) == 4 and "server.php" in caplog.text
    assert token not in caplog.text
    assert all(token not in f"{exc} {exc!r} {vars(exc)}" for exc in caught)
    assert token not in repr(client)
