"""Messages the plugin builds from the real Moodle 4.3 event dumps satisfy the event contract."""

import json
import subprocess
from collections import Counter

from crmsync import contract
from tests.support import FIXTURES, REPO


def built_messages() -> list[dict]:
    result = subprocess.run(["php", "tests/php/tools/build_fixture_messages.php", str(FIXTURES)],
                            capture_output=True, text=True, cwd=REPO, check=True)
    return json.loads(result.stdout)


def test_every_built_message_validates_against_its_schema():
    messages = built_messages()
    types = Counter(m["type"] for m in messages)
    assert {"user.created", "user.updated", "user.deleted", "course.created", "enrolment.updated",
            "enrolment.deleted", "grade.updated", "module_completion.updated", "course_completion.updated",
            "attendance.recorded", "consent.updated"} <= set(types)
    for message in messages:
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in contract.validator_for(message["type"]).iter_errors(message)]
        assert not errors, f"{message['type']} {message['subject']}: {errors}"


def test_ids_arrive_as_integers_whatever_moodle_handed_over():
    graded = next(m for m in built_messages() if m["type"] == "grade.updated")
    assert isinstance(graded["moodle_event"]["objectid"], int)
    assert isinstance(graded["moodle_event"]["other"]["itemid"], int)
    assert isinstance(graded["data"]["finalgrade"], float)


def test_attendance_carries_every_learner_of_the_session():
    attendance = [m for m in built_messages() if m["type"] == "attendance.recorded"]
    assert attendance and all(m["data"]["statuses"] for m in attendance)
    late = [s for m in attendance for s in m["data"]["statuses"] if s["remarks"] == "Late confirmed by teacher"]
    assert late


def test_a_decline_is_not_an_acceptance():
    consents = {m["data"]["status"] for m in built_messages() if m["type"] == "consent.updated"}
    assert "accepted" in consents and consents - {"accepted"}
