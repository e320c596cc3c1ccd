"""The admin API: auth, filters, history, replay, stats, and an OpenAPI document it really follows."""

from __future__ import annotations

import pytest

from tests.receiver.conftest import ADMIN_TOKEN, message


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


def test_openapi_document_is_valid(sqlite_receiver):
    from openapi_spec_validator import OpenAPIV30SpecValidator

    document = sqlite_receiver.client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.0")
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in OpenAPIV30SpecValidator(document).iter_errors()]
    assert errors == []


@pytest.mark.parametrize("header", ["Bearer tøken-é", "Bearer \u00ff" * 3, "Basic é", "Bearer " + ADMIN_TOKEN + "é"])
def test_non_ascii_authorization_is_401(sqlite_receiver, header):
    response = sqlite_receiver.client.get("/api/v1/stats", headers={"Authorization": header})
    assert response.status_code == 401 and "WWW-Authenticate" in response.headers


@pytest.mark.parametrize("method, path, body", [
    ("GET", "/events?type=user%00.updated", None),
    ("GET", "/events?subject=user:3%00", None),
    ("GET", "/events?ty%00pe=x", None),
    ("GET", "/events/abc%00def", None),
    ("POST", "/events/replay", {"ids": ["abc\x00def"]}),
    ("POST", "/events/replay", {"filter": {"subject": "user:3\x00"}}),
    ("POST", "/events/replay", {"filter": {"type": "\ud800"}}),
])
def test_nul_in_a_path_query_or_body_is_400(receiver, method, path, body):
    response = receiver.admin(method, path, json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "NUL" in response.json["error"] or "surrogate" in response.json["error"]


def test_nul_is_checked_only_after_the_token(sqlite_receiver):
    assert sqlite_receiver.client.get("/api/v1/events/abc%00def").status_code == 401


def test_an_empty_filter_is_400_and_replays_nothing(receiver, database_url):
    from crmsync import db
    from crmsync.models import InboxEvent

    body = message()
    receiver.post(body)
    with db.session_scope(database_url) as session:
        session.get(InboxEvent, body["id"]).status = "failed"
    response = receiver.admin("POST", "/events/replay", json={"filter": {}})
    assert response.status_code == 400 and "empty filter" in response.json["error"]
    assert receiver.admin("GET", f"/events/{body['id']}").json["status"] == "failed"


def test_a_filter_matching_many_events_replays_them_in_bounded_chunks(receiver, database_url, monkeypatch):
    """Every matching event is replayed, but no statement carries more than a chunk's worth of ids."""
    import uuid
    from datetime import UTC, datetime

    from sqlalchemy import event, insert

    from crmsync import db
    from crmsync.models import InboxEvent
    from receiver import admin_api

    monkeypatch.setattr(admin_api, "REPLAY_CHUNK", 20)
    many = 410
    rows = [dict(id=str(uuid.uuid4()), site_id="site-1", type="course_access.updated", subject=f"course_access:{n}:2",
                 sequence=n, occurred_at=datetime.now(UTC), status="failed", attempts=1, payload={})
            for n in range(many)]
    with db.session_scope(database_url) as session:
        session.execute(insert(InboxEvent), rows)
    widest = []

    def count_parameters(_conn, _cursor, _statement, parameters, _context, executemany):
        sets = parameters if executemany else [parameters]
        widest.append(max((len(p) for p in sets), default=0))

    engine = db.engine_for(database_url)
    event.listen(engine, "before_cursor_execute", count_parameters)
    try:
        response = receiver.admin("POST", "/events/replay", json={"filter": {"status": "failed"}})
    finally:
        event.remove(engine, "before_cursor_execute", count_parameters)
    assert response.status_code == 200 and response.json == {"replayed": many}
    assert receiver.admin("GET", "/events?status=failed").json["total"] == 0
    assert max(widest) <= 20 * 4 + 4  # a chunk of transitions (4 columns each), never the 410 ids at once


def test_replay_by_ids_is_chunked_too(receiver, database_url, monkeypatch):
    from crmsync import db
    from crmsync.models import InboxEvent
    from receiver import admin_api

    monkeypatch.setattr(admin_api, "REPLAY_CHUNK", 2)
    bodies = [message(n) for n in range(1, 6)]
    for body in bodies:
        receiver.post(body)
    with db.session_scope(database_url) as session:
        for body in bodies[:4]:
            session.get(InboxEvent, body["id"]).status = "failed"
    # The fifth is still queued (on its way, not replayed); repeated and unknown ids count once or not at all.
    ids = [b["id"] for b in bodies] + [bodies[0]["id"], "no-such-event"]
    assert receiver.admin("POST", "/events/replay", json={"ids": ids}).json == {"replayed": 4}
