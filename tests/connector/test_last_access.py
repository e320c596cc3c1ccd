"""'Last Moodle access' is written by the user row and by course views, two subjects: it only moves forward."""

from __future__ import annotations

from tests.connector.conftest import user

T1, T2, T3, T4 = 1795344000, 1795347600, 1795351200, 1795354800  # 10:40, 11:40, 12:40, 13:40 UTC


def contact(sandbox, uid: int) -> dict:
    [found] = [r for r in sandbox.records("Contacts") if r.get("moodle_user_id_c") == str(uid)]
    return found


def test_last_moodle_access_only_moves_forward(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:60", user(60, lastaccess=T1)),
                  pipeline.message("course_access.updated", "course_access:60:2",
                                   {"userid": 60, "courseid": 2, "lastaccess": T2}))
    pipeline.drain()
    assert contact(sandbox, 60)["moodle_last_access_c"] == "2026-11-22T11:40:00+00:00"

    # A user update read before the course view, delivered after it.
    pipeline.send(pipeline.message("user.updated", "user:60", user(60, city="Bergen", lastaccess=T1)))
    pipeline.drain()
    learner = contact(sandbox, 60)
    assert (learner["moodle_last_access_c"], learner["primary_address_city"]) == ("2026-11-22T11:40:00+00:00",
                                                                                  "Bergen")

    pipeline.send(pipeline.message("course_access.updated", "course_access:60:2",
                                   {"userid": 60, "courseid": 2, "lastaccess": T3}))
    pipeline.drain()
    assert contact(sandbox, 60)["moodle_last_access_c"] == "2026-11-22T12:40:00+00:00"

    pipeline.send(pipeline.message("user.updated", "user:60", user(60, city="Bergen", lastaccess=T4)))
    pipeline.drain()
    assert contact(sandbox, 60)["moodle_last_access_c"] == "2026-11-22T13:40:00+00:00"
