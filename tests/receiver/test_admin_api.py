"""The admin API: auth, filters, history, replay, stats, and an OpenAPI document it really follows."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.receiver.conftest import ADMIN_TOKEN, Receiver, message


def test_requires_the_bearer_token(receiver):
    assert receiver.client.get("/api/v1/stats").status_code == 401
    wrong = receiver.client.get("/api/v1/stats", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "WWW-Authenticate" in wrong.headers


def test_list_filters_and_history(receiver):
    first, second = message(1), message(2, type="user.updated", subject="user:3", data={
        "id": 3, "username": "s", "email": "e", "firstname": "A", "lastname": "B", "suspended": False,
        "deleted": False, "timemodified": 1})
    receiver.post(first)
    receiver.post(second)
    listed = receiver.admin("GET", "/events?type=user.updated").json
    assert listed["total"] == 1 and listed["events"][0]["id"] == second["id"]
    assert "payload" not in listed["events"][0]
    assert receiver.admin("GET", "/events?status=queued").json["total"] == 2
    shown = receiver.admin("GET", f"/events/{first['id']}").json
    assert [step["status"] for step in shown["history"]] == ["pending", "queued"]
    assert shown["payload"]["data"]["lastaccess"] == 1795344000
    assert receiver.admin("GET", "/events/unknown").status_code == 404


def test_bad_filter_is_422(receiver):
    response = receiver.admin("GET", "/events?status=lost")
    assert response.status_code == 422 and "status" in response.json["errors"]


def test_replay_requeues_finished_events(receiver, database_url):
    from crmsync import db
    from crmsync.models import InboxEvent

    body = message()
    receiver.post(body)
    with db.session_scope(database_url) as session:
        session.get(InboxEvent, body["id"]).status = "failed"
    result = receiver.admin("POST", "/events/replay", json={"filter": {"status": "failed"}})
    assert result.json == {"replayed": 1}
    history = receiver.admin("GET", f"/events/{body['id']}").json["history"]
    assert [step["status"] for step in history][-2:] == ["pending", "queued"]
    assert receiver.admin("POST", "/events/replay", json={}).status_code == 422


def test_stats_count_per_status(receiver):
    receiver.post(message(1))
    receiver.post(message(2))
    stats = receiver.admin("GET", "/stats").json
    assert stats["counts"]["queued"] == 2 and stats["queue_depth"] == 2
    assert stats["received_last_minute"] == 2 and stats["oldest_pending"]


def test_openapi_document_matches_the_api(sqlite_url, redis_url):
    """schemathesis generates requests from the document; every answer must match what it promises."""
    receiver = Receiver(sqlite_url, redis_url)
    receiver.post(message())
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", receiver.app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=operation.as_strategy())
        def check(case):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {ADMIN_TOKEN}"}
            case.call_and_validate()

        check()
        checked += 1
    assert checked == 4
