"""The reconciliation admin API over real HTTP: bearer auth, one run at a time, reports, CSV download, repair."""

from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from rq import Queue
from werkzeug.serving import make_server

from crmsync import db
from crmsync.models import ReconcileDifference, ReconcileRun
from reconciler import run, schedule
from tests.receiver.conftest import ADMIN_TOKEN, Receiver

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ROUTES = [("POST", "/reconciliations"), ("GET", "/reconciliations"), ("GET", "/reconciliations/1"),
          ("GET", "/reconciliations/1/differences"), ("POST", "/reconciliations/1/repair")]


class Served(Receiver):
    """The receiver's app behind a real HTTP server on a free port."""

    def __init__(self, database_url: str, redis_url: str, **settings):
        super().__init__(database_url, redis_url, **settings)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def call(self, method: str, path: str, auth: bool = True, **kwargs) -> requests.Response:
        return requests.request(method, self.url + path, headers=AUTH if auth else {}, timeout=10, **kwargs)


@pytest.fixture
def api(sqlite_url, redis_url):
    served = Served(sqlite_url, redis_url)
    yield served
    served.server.shutdown()


def stored_run(database_url: str, status: str = "done", started: datetime | None = None, **columns) -> int:
    started = started or datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    with db.session_scope(database_url) as session:
        run = ReconcileRun(**{"site_id": "site-1", "started_at": started, "status": status, "trigger": "schedule",
                              "finished_at": None if status == "running" else started + timedelta(minutes=3),
                              "counts": {}, "requests": {"moodle": 12, "crm": 30}, **columns})
        session.add(run)
        session.flush()
        return run.id


def stored_differences(database_url: str, run_id: int, rows: list[dict]) -> list[int]:
    with db.session_scope(database_url) as session:
        differences = [ReconcileDifference(run_id=run_id, **row) for row in rows]
        session.add_all(differences)
        session.flush()
        return [d.id for d in differences]


def test_every_route_needs_the_token(api):
    for method, path in ROUTES:
        response = api.call(method, path, auth=False, json={})
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="crmsync"'
    assert Queue(api.settings.queue_name, connection=api.app.extensions["crmsync.redis"]).count == 0


def test_a_start_is_queued_once_and_refused_while_it_waits_or_runs(api, redis_client):
    first = api.call("POST", "/reconciliations")
    assert first.status_code == 202 and first.json()["status"] == "queued"
    job_id = first.json()["job_id"]
    [job] = Queue(api.settings.queue_name, connection=redis_client).get_jobs()
    assert job.id == job_id and job.func_name == schedule.JOB_FUNCTION and job.args == ("api", None)
    again = api.call("POST", "/reconciliations")
    assert again.status_code == 409 and again.json()["job_id"] == job_id
    assert Queue(api.settings.queue_name, connection=redis_client).count == 1


def test_a_start_is_refused_while_crmsync_reconcile_runs(api, redis_client):
    lock = redis_client.lock(run.LOCK_NAME, timeout=60)  # what a run started by hand holds
    assert lock.acquire(blocking=False)
    try:
        refused = api.call("POST", "/reconciliations")
        assert refused.status_code == 409 and refused.json()["job_id"] is None
        assert "crmsync reconcile" in refused.json()["error"]
    finally:
        lock.release()
    assert api.call("POST", "/reconciliations").status_code == 202


def test_runs_newest_first_and_one_run_with_its_counts_and_timing(database_url, redis_url):
    api = Served(database_url, redis_url)
    try:
        older = stored_run(database_url, counts={"missing_in_crm": {"user": 2, "enrolment": 1}})
        newer = stored_run(database_url, status="running", started=datetime(2026, 12, 3, 2, 0, tzinfo=UTC))
        listed = api.call("GET", "/reconciliations").json()
        assert listed["total"] == 2 and [run["id"] for run in listed["runs"]] == [newer, older]
        assert [run["id"] for run in api.call("GET", "/reconciliations?limit=1&offset=1").json()["runs"]] == [older]
        shown = api.call("GET", f"/reconciliations/{older}").json()
        assert shown["counts"] == {"missing_in_crm": {"user": 2, "enrolment": 1}} and shown["differences"] == 3
        assert shown["duration_seconds"] == 180 and shown["requests"] == {"moodle": 12, "crm": 30}
        assert shown["status"] == "done" and shown["started_at"].startswith("2026-12-02T02:00:00")
        assert api.call("GET", f"/reconciliations/{newer}").json()["finished_at"] is None
        for unknown in (newer + 1, 2**40):
            assert api.call("GET", f"/reconciliations/{unknown}").status_code == 404
            assert api.call("GET", f"/reconciliations/{unknown}/differences").status_code == 404
        assert api.call("GET", "/reconciliations?limit=0").status_code == 422
    finally:
        api.server.shutdown()


def test_differences_as_a_page_and_as_a_csv_download(api, sqlite_url, monkeypatch):
    from reconciler import api as reconcile_api

    monkeypatch.setattr(reconcile_api, "CSV_CHUNK", 2)  # five rows: three queries, as a large run would page
    run_id = stored_run(sqlite_url, counts={"field_differs": {"user": 3}, "missing_in_crm": {"grade": 2}})
    rows = [dict(kind="field_differs", entity="user", key=f"user:{n}", crm_module="Contacts", crm_id=f"c{n}",
                 field="last_name", moodle_value=value, crm_value="Old", owner="moodle")
            for n, value in ((3, "O'Neil, Siobhán"), (4, "=HYPERLINK(\"http://x\")"), (5, "-5"))]
    rows += [dict(kind="missing_in_crm", entity="grade", key=f"grade:{n}:7", owner="moodle") for n in (3, 4)]
    ids = stored_differences(sqlite_url, run_id, rows)

    page = api.call("GET", f"/reconciliations/{run_id}/differences?kind=missing_in_crm&limit=1").json()
    assert page["total"] == 2 and [d["key"] for d in page["differences"]] == ["grade:3:7"]
    assert page["differences"][0]["id"] == ids[3] and page["differences"][0]["moodle_value"] is None

    download = api.call("GET", f"/reconciliations/{run_id}/differences?format=csv")
    assert download.status_code == 200 and download.headers["Content-Type"].startswith("text/csv")
    assert download.headers["Content-Disposition"] == f'attachment; filename="reconciliation-{run_id}-differences.csv"'
    table = list(csv.DictReader(io.StringIO(download.content.decode("utf-8"))))
    assert [int(row["id"]) for row in table] == ids
    assert [row["moodle_value"] for row in table[:3]] == ["O'Neil, Siobhán", "'=HYPERLINK(\"http://x\")", "-5"]
    assert table[3]["field"] == "" and table[3]["crm_value"] == ""
    only_users = api.call("GET", f"/reconciliations/{run_id}/differences?format=csv&kind=field_differs")
    assert len(list(csv.DictReader(io.StringIO(only_users.text)))) == 3
    assert api.call("GET", f"/reconciliations/{run_id}/differences?kind=lost").status_code == 422
    assert api.call("GET", f"/reconciliations/{run_id}/differences?format=xml").status_code == 422


def test_repair_lists_what_it_would_do_and_leaves_to_people_what_needs_them(api, sqlite_url):
    run_id = stored_run(sqlite_url, counts={"field_differs": {"user": 1}, "duplicate_contact": {"user": 1}})
    resend, duplicate = stored_differences(sqlite_url, run_id, [
        dict(kind="field_differs", entity="user", key="user:3", crm_module="Contacts", crm_id="c3", field="last_name",
             moodle_value="O'Neil", crm_value="ONeil", owner="moodle", subject="user:3"),
        dict(kind="duplicate_contact", entity="user", key="user:4", crm_module="Contacts", crm_id="c4b")])
    planned = api.call("POST", f"/reconciliations/{run_id}/repair", json={"kinds": ["field_differs"], "dry_run": True})
    assert planned.status_code == 200 and planned.json()["dry_run"] is True
    assert [(a["difference"], a["action"], a["subject"]) for a in planned.json()["actions"]] == [
        (resend, "resend", "user:3")]
    done = api.call("POST", f"/reconciliations/{run_id}/repair", json={"differences": [duplicate]}).json()
    assert [(a["difference"], a["action"]) for a in done["actions"]] == [(duplicate, "none")]
    assert "needs a person's decision" in done["actions"][0]["note"]
    listed = {d["id"]: d for d in api.call("GET", f"/reconciliations/{run_id}/differences").json()["differences"]}
    assert listed[resend]["repaired_at"] is None and listed[resend]["repair_note"] is None  # a dry run changes nothing
    assert listed[duplicate]["repaired_at"] is None and "decision" in listed[duplicate]["repair_note"]


def test_repair_requests_that_cannot_be_carried_out(api, sqlite_url):
    done = stored_run(sqlite_url)
    running = stored_run(sqlite_url, status="running")
    for body in ({}, {"differences": [1], "kinds": ["field_differs"]}, {"kinds": ["lost"]}, {"differences": []}):
        response = api.call("POST", f"/reconciliations/{done}/repair", json=body)
        assert response.status_code == 422, body
    assert api.call("POST", f"/reconciliations/{running}/repair", json={"kinds": ["field_differs"]}).status_code == 409
    assert api.call("POST", f"/reconciliations/{running + 1}/repair", json={"kinds": ["field_differs"]}).status_code == 404


def test_the_openapi_document_describes_every_route(api):
    document = requests.get(f"{api.url}/openapi.json", timeout=10).json()
    described = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    served = set()
    for rule in api.app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "admin_api.openapi":
            path = rule.rule.replace("<int:", "<").replace("<", "{").replace(">", "}")
            served |= {(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert served and served == described
    assert {"/api/v1/reconciliations", "/api/v1/reconciliations/{run_id}/differences"} <= set(document["paths"])
    csv_content = document["paths"]["/api/v1/reconciliations/{run_id}/differences"]["get"]["responses"]["200"]["content"]
    assert set(csv_content) == {"application/json", "text/csv"}
