"""What a client of the Moodle sandbox sees beyond the recorded transcripts: state, steering, faults, persistence."""

from __future__ import annotations

import hashlib
import threading

import pytest
import requests

from moodle_sandbox.testing import MoodleSandboxProcess

NOW = 1795345068


@pytest.fixture(scope="module")
def running():
    with MoodleSandboxProcess() as process:
        yield process


@pytest.fixture
def moodle(running):
    running.reset()
    running.issue_token("crm_sync", 2, token=running.token)
    running.clear_faults()
    running.freeze_clock(NOW)
    return running


def call(sandbox, function, restformat="json", **params):
    response = requests.post(sandbox.endpoint, params={"moodlewsrestformat": restformat},
                             data={"wstoken": sandbox.token, "wsfunction": function, **params}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json() if restformat == "json" else response.text


def new_user(n: int, email: str | None = None) -> dict:
    return {f"users[{n}][username]": f"u{n}", f"users[{n}][password]": "Pw#12345", f"users[{n}][firstname]": "F",
            f"users[{n}][lastname]": "L", f"users[{n}][email]": email or f"u{n}@example.invalid"}


def test_a_failing_call_changes_nothing(moodle):
    answer = call(moodle, "core_user_create_users", **new_user(0), **new_user(1, email="not-an-email"))
    assert answer["errorcode"] == "invalidparameter"
    assert [u["username"] for u in moodle.records("user")] == ["guest", "admin", "student1", "student2",
                                                               "student3@example.invalid.1795344058", "student4"]
    assert call(moodle, "core_user_create_users", **new_user(0)) == [{"id": 7, "username": "u0"}]


def test_unenrolment_drops_roles_and_group_memberships(moodle):
    call(moodle, "enrol_manual_unenrol_users", **{"enrolments[0][userid]": "3", "enrolments[0][courseid]": "2"})
    assert not [m for m in moodle.records("groups_members") if m["userid"] == 3]
    assert not [r for r in moodle.records("role_assignments") if r["userid"] == 3]
    answer = call(moodle, "core_completion_get_course_completion_status", courseid="2", userid="3")
    assert answer["errorcode"] == "usernotenroled"


def test_only_active_leaves_out_ended_and_future_enrolments(moodle):
    for user, start, end in ((6, NOW + 3600, 0), (3, 0, 0)):
        call(moodle, "enrol_manual_enrol_users", **{"enrolments[0][roleid]": "5", "enrolments[0][userid]": str(user),
                                                    "enrolments[0][courseid]": "2", "enrolments[0][timestart]": str(start),
                                                    "enrolments[0][timeend]": str(end)})
    options = {"options[0][name]": "onlyactive", "options[0][value]": "1"}
    assert [u["id"] for u in call(moodle, "core_enrol_get_enrolled_users", courseid="2", **options)] == [3, 4]
    assert [u["id"] for u in call(moodle, "core_enrol_get_enrolled_users", courseid="2")] == [3, 4, 6]
    garbled = {"options[0][name]": "limitfrom", "options[0][value]": "abc",
               "options[1][name]": "groupid", "options[1][value]": "x"}
    assert [u["id"] for u in call(moodle, "core_enrol_get_enrolled_users", courseid="2", **garbled)] == [3, 4, 6]
    moodle.freeze_clock(NOW + 7200)
    assert [u["id"] for u in call(moodle, "core_enrol_get_enrolled_users", courseid="2", **options)] == [3, 4, 6]


def test_deleting_a_user_anonymises_it_as_moodle_does(moodle):
    moodle.set_service("crm_sync", functions=["core_user_delete_users", "core_user_get_users_by_field"])
    assert call(moodle, "core_user_delete_users", **{"userids[0]": "3"}) is None
    [deleted] = call(moodle, "core_user_get_users_by_field", field="id", **{"values[0]": "3"})
    assert deleted["username"] == f"alice.anders@example.invalid.{NOW}"
    assert deleted["email"] == hashlib.md5(b"alice.anders@example.invalid").hexdigest()
    assert "idnumber" not in deleted and "customfields" not in deleted


def test_cohorts(moodle):
    moodle.set_service("crm_sync", functions=["core_cohort_create_cohorts", "core_cohort_add_cohort_members"])
    [cohort] = call(moodle, "core_cohort_create_cohorts", **{
        "cohorts[0][categorytype][type]": "system", "cohorts[0][categorytype][value]": "",
        "cohorts[0][name]": "Customers of ACME", "cohorts[0][idnumber]": "ACME"})
    assert (cohort["id"], cohort["idnumber"], cohort["visible"]) == (1, "ACME", True)
    answer = call(moodle, "core_cohort_add_cohort_members", **{
        "members[0][cohorttype][type]": "idnumber", "members[0][cohorttype][value]": "ACME",
        "members[0][usertype][type]": "username", "members[0][usertype][value]": "student2",
        "members[1][cohorttype][type]": "idnumber", "members[1][cohorttype][value]": "ACME",
        "members[1][usertype][type]": "username", "members[1][usertype][value]": "nobody"})
    assert [w["item"] for w in answer["warnings"]] == ["user"]
    assert [(m["cohortid"], m["userid"]) for m in moodle.records("cohort_members")] == [(1, 4)]


def test_xml_is_the_default_format(moodle):
    answer = call(moodle, "core_user_get_users_by_field", restformat="xml", field="id", **{"values[0]": "4"})
    assert answer.startswith('<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n<MULTIPLE>\n<SINGLE>\n')
    assert '<KEY name="username"><VALUE>student2</VALUE>\n</KEY>' in answer


def test_a_disabled_service_refuses_its_tokens(moodle):
    moodle.set_service("crm_sync", enabled=False)
    assert call(moodle, "core_webservice_get_site_info")["errorcode"] == "invalidtoken"


def test_empty_site_and_seeding(moodle):
    moodle.reset("empty")
    assert [u["username"] for u in moodle.records("user")] == ["guest", "admin"]
    moodle.seed(course=[{"fullname": "Seeded", "shortname": "S1", "category": 1}],
                enrol=[{"courseid": 2, "enrol": "manual", "status": 0, "roleid": 5}])
    assert call(moodle, "core_course_get_courses_by_field", field="shortname", value="S1")["courses"][0]["id"] == 2
    assert call(moodle, "core_user_create_users", **new_user(0)) == [{"id": 3, "username": "u0"}]


def test_steering_rejects_bad_input(moodle):
    for method, path, body in (("PUT", "faults", {"nope": 1}), ("POST", "seed", {"user": "x"}),
                               ("PUT", "clock", {"now": "noon"}), ("POST", "tokens", {"service": "nope"}),
                               ("POST", "reset", {"site": "nope"}), ("PUT", "services/crm_sync", {"functions": ["x"]}),
                               ("POST", "seed", {"user": [{"id": 3, "username": "again"}]}),
                               ("POST", "seed", {"groups": [{"name": "no course"}]})):
        response = requests.request(method, f"{moodle.url}/__sandbox/{path}", json=body, timeout=5)
        assert response.status_code == 400 and response.json()["error"], (path, body)


def test_seeded_faults_are_reproducible(moodle):
    def statuses():
        moodle.set_faults(error_rate=0.5, seed=42)
        return [requests.post(moodle.endpoint, data={"wstoken": moodle.token,
                                                     "wsfunction": "core_webservice_get_site_info"},
                              timeout=5).status_code for _ in range(20)]

    first, second = statuses(), statuses()
    assert first == second and 200 in first and set(first) - {200} and set(first) <= {200, 500, 502, 503}


def test_the_gate_holds_a_call_until_released(moodle):
    moodle.hold("enrol_manual_enrol_users")
    done = threading.Event()

    def enrol():
        call(moodle, "enrol_manual_enrol_users", **{"enrolments[0][roleid]": "5", "enrolments[0][userid]": "6",
                                                    "enrolments[0][courseid]": "2"})
        done.set()

    worker = threading.Thread(target=enrol)
    worker.start()
    moodle.wait_until_held(1)
    assert not done.is_set() and not [e for e in moodle.records("user_enrolments") if e["userid"] == 6]
    assert call(moodle, "core_webservice_get_site_info")["userid"] == 2  # other calls go on meanwhile
    moodle.release()
    worker.join(10)
    assert done.is_set() and [e for e in moodle.records("user_enrolments") if e["userid"] == 6]


def test_data_and_tokens_survive_a_restart_with_a_file_database(tmp_path):
    database = str(tmp_path / "moodle.db")
    with MoodleSandboxProcess(database=database) as first:
        assert call(first, "core_user_create_users", **new_user(0)) == [{"id": 7, "username": "u0"}]
    with MoodleSandboxProcess(database=database, token="another-token") as second:
        second.token = "sandbox-moodle-token"  # the first run's token still works
        assert call(second, "core_user_create_users", **new_user(1)) == [{"id": 8, "username": "u1"}]
