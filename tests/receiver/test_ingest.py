"""What the receiver stores, queues and answers for good and bad requests."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import redis as redis_lib
from rq import Queue
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from crmsync import contract, db, queue
from crmsync.models import InboxEvent
from receiver import metrics
from tests.conftest import TEST_POSTGRES_URL, _empty_tables
from tests.receiver.conftest import Receiver, message
from tests.support import wait_for


def stored(database_url: str) -> dict[str, str]:
    with db.session_scope(database_url) as session:
        return {e.id: e.status for e in session.scalars(select(InboxEvent)).all()}


def test_accepted_event_is_stored_and_queued(receiver, database_url, redis_client):
    body = message()
    response = receiver.post(body)
    assert response.status_code == 202 and response.json["accepted"] == 1
    assert stored(database_url) == {body["id"]: "queued"}
    job_ids = Queue("crmsync", connection=redis_client).job_ids
    assert job_ids == [queue.job_id(body["id"])]


def test_batch_with_some_duplicates(receiver, database_url):
    seen = message(1)
    receiver.post(seen)
    batch = {"events": [seen, message(2), message(3)]}
    response = receiver.post(batch, webhook_id="batch-1")
    assert response.status_code == 202
    assert (response.json["accepted"], response.json["duplicates"]) == (2, 1)
    assert response.json["duplicate_ids"] == [seen["id"]]
    assert len(stored(database_url)) == 3


def test_wrong_content_type_is_415(receiver):
    assert receiver.post(message(), headers={"Content-Type": "text/plain"}).status_code == 415


def test_malformed_json_is_400(receiver):
    response = receiver.post('{"id": ', webhook_id="x")
    assert response.status_code == 400


def test_schema_errors_are_422_listing_each_field(receiver, database_url):
    bad = message(data={"userid": "3", "courseid": 2})
    response = receiver.post(bad)
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"data.userid", "data"}  # wrong type, and lastaccess missing
    assert stored(database_url) == {}


def test_a_bad_event_rejects_the_whole_batch(receiver, database_url):
    response = receiver.post({"events": [message(1), message(2, type="no.such")]}, webhook_id="b")
    assert response.status_code == 422
    assert "events.1.type" in response.json["errors"]
    assert stored(database_url) == {}


def test_message_id_must_match_the_webhook_id(receiver):
    response = receiver.post(message(), webhook_id="another-id")
    assert response.status_code == 422 and list(response.json["errors"]) == ["id"]


def test_batch_size_is_bounded(database_url, redis_url):
    small = Receiver(database_url, redis_url, MAX_BATCH_EVENTS="2")
    response = small.post({"events": [message(n) for n in range(1, 4)]}, webhook_id="big")
    assert response.status_code == 422 and "at most 2 events" in response.json["error"]


def test_oversize_body_is_413(database_url, redis_url):
    small = Receiver(database_url, redis_url, MAX_BODY_BYTES="200")
    assert small.post(message()).status_code == 413


def test_redis_down_keeps_events_pending_until_the_sweeper(database_url, redis_url, monkeypatch):
    down = Receiver(database_url, "redis://127.0.0.1:1/0")
    body = message()
    response = down.post(body)
    assert response.status_code == 202  # durable in the database, so acknowledged
    assert stored(database_url) == {body["id"]: "pending"}

    up = Receiver(database_url, redis_url)
    connection = redis_lib.Redis.from_url(redis_url)
    with db.session_scope(database_url) as session:
        assert queue.sweep(session, connection, up.settings.replace(sweep_grace_seconds=0)) == 1
    assert stored(database_url) == {body["id"]: "queued"}
    assert Queue("crmsync", connection=connection).job_ids == [queue.job_id(body["id"])]


def test_lost_queue_is_rebuilt_by_the_sweeper(receiver, database_url, redis_client, monkeypatch):
    body = message()
    receiver.post(body)
    redis_client.flushdb()  # Redis restarted without persistence
    with db.session_scope(database_url) as session:
        assert queue.sweep(session, redis_client, receiver.settings.replace(sweep_grace_seconds=0)) == 1
    assert Queue("crmsync", connection=redis_client).job_ids == [queue.job_id(body["id"])]


def test_database_down_is_503_with_retry_after(redis_url):
    down = Receiver("postgresql+psycopg://nobody@127.0.0.1:1/none", redis_url)
    response = down.post(message())
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0


def _holding_the_writers_turn(sqlite_url: str) -> subprocess.Popen:
    """Another process holding the SQLite file's writers' turn until a line is written to its stdin."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1], 'a'); fcntl.flock(f, fcntl.LOCK_EX); "
         "print('held', flush=True); sys.stdin.readline()", f"{make_url(sqlite_url).database}.writers"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    return holder


def test_on_sqlite_a_webhook_is_stored_in_its_turn_among_the_writers_of_the_file(sqlite_url, redis_url):
    """The receiver's writers of a SQLite file take turns on a lock file beside it (crmsync.db.writer_turn),
    woken as soon as it is free instead of sleeping in SQLite's busy handler: while another process holds
    the turn, a webhook waits; once it lets go, the webhook is stored and answered."""
    receiver = Receiver(sqlite_url, redis_url)
    holder = _holding_the_writers_turn(sqlite_url)
    try:
        body = message()
        answers = []
        poster = threading.Thread(target=lambda: answers.append(receiver.post(body)))
        poster.start()
        poster.join(1.0)
        assert answers == [] and stored(sqlite_url) == {}  # waiting for its turn
    finally:
        holder.communicate("\n", timeout=10)
    poster.join(30)
    assert answers[0].status_code == 202 and stored(sqlite_url) == {body["id"]: "queued"}


def test_on_sqlite_the_webhooks_waiting_for_a_store_are_stored_together(sqlite_url, redis_url, redis_client):
    """Group commit (receiver/group_commit.py): requests that arrive while one is being stored queue, and
    the next store takes them all in one commit. Each is answered for its own events; an id two of them carry
    is new for the first and a duplicate for the second."""
    receiver = Receiver(sqlite_url, redis_url)
    groups = receiver.app.extensions["crmsync.group_commit"][contract.MOODLE]
    before = _group_sizes()
    alone, shared = message(1), message(3)
    first, second = {"events": [message(2), shared]}, {"events": [shared, message(4)]}
    answers: dict[str, object] = {}

    def post(name, payload):
        answers[name] = receiver.post(payload, webhook_id=None if name == "alone" else name)

    holder = _holding_the_writers_turn(sqlite_url)
    try:
        posters = [threading.Thread(target=post, args=("alone", alone))]
        posters[0].start()
        # "alone" is being stored: its store waits for the turn
        wait_for(lambda: groups.in_flight() == (True, 0), 10, "the first webhook's store", every=0.01)
        for count, (name, payload) in enumerate((("first", first), ("second", second)), start=1):
            posters.append(threading.Thread(target=post, args=(name, payload)))
            posters[-1].start()
            wait_for(lambda count=count: groups.in_flight() == (True, count), 10, f"{name} to queue", every=0.01)
        assert answers == {} and stored(sqlite_url) == {}
    finally:
        holder.communicate("\n", timeout=10)
    for poster in posters:
        poster.join(30)

    assert {name: (a.status_code, a.json["accepted"], a.json["duplicate_ids"]) for name, a in answers.items()} == {
        "alone": (202, 1, []), "first": (202, 2, []), "second": (202, 1, [shared["id"]])}
    assert stored(sqlite_url) == {m["id"]: "queued" for m in (alone, *first["events"], second["events"][1])}
    assert len(Queue("crmsync", connection=redis_client).job_ids) == 4
    after = _group_sizes()
    assert (after[0] - before[0], after[1] - before[1]) == (2, 3)  # two commits: "alone", then the other two


def _group_sizes() -> tuple[float, float]:
    """(commits, requests stored by them) so far, from the receiver's metric."""
    samples = {s.name: s.value for s in metrics.GROUP_REQUESTS.collect()[0].samples}
    return samples["crmsync_ingest_group_requests_count"], samples["crmsync_ingest_group_requests_sum"]


def test_a_database_restart_between_two_webhooks_costs_the_sender_no_retry(postgres_database, redis_url,
                                                                          redis_client):
    """The webhook path skips the pool's pre-ping; a connection the server closed is retried, not a 503."""
    _empty_tables(postgres_database)
    receiver = Receiver(postgres_database, redis_url)
    first, second = message(1), message(2)
    assert receiver.post(first).status_code == 202
    name = postgres_database.rsplit("/", 1)[1]
    admin = create_engine(TEST_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:  # what a restart does to the receiver's pooled connections
            closed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name}).scalar()
    finally:
        admin.dispose()
    assert closed >= 1
    response = receiver.post(second)
    assert response.status_code == 202 and response.json["accepted"] == 1
    assert stored(postgres_database) == {first["id"]: "queued", second["id"]: "queued"}
    assert queue.job_id(second["id"]) in Queue("crmsync", connection=redis_client).job_ids


def test_readyz_reports_each_dependency(database_url, redis_url):
    assert Receiver(database_url, redis_url).client.get("/readyz").status_code == 200
    down = Receiver(database_url, "redis://127.0.0.1:1/0").client.get("/readyz")
    assert down.status_code == 503 and down.json["checks"]["redis"].startswith("unavailable")


def metric(receiver: Receiver, name: str, **labels: str) -> float:
    """One sample's value as /metrics shows it now (0 when the series does not exist yet)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = receiver.client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_metrics_count_accepted_and_rejected(receiver):
    """The registry is the process's, shared by every test: what counts is how much each series moves."""
    def snapshot():
        return (metric(receiver, "crmsync_webhook_events_total", origin="moodle", outcome="accepted"),
                metric(receiver, "crmsync_webhook_events_total", origin="moodle", outcome="duplicate"),
                metric(receiver, "crmsync_signature_failures_total", origin="moodle"),
                metric(receiver, "crmsync_http_requests_total", endpoint="webhooks.receive", status="202"),
                metric(receiver, "crmsync_http_requests_total", endpoint="webhooks.receive", status="401"),
                metric(receiver, "crmsync_request_seconds_count", origin="moodle"))

    before = snapshot()
    seen = message(1)
    receiver.post({"events": [seen, message(2), message(3)]}, webhook_id="batch-1")
    receiver.post(seen)
    receiver.post(message(4), secret="whsec_" + "A" * 43)
    receiver.post(message(5), secret="whsec_" + "A" * 43)
    after = snapshot()
    assert [round(b - a, 6) for a, b in zip(before, after, strict=True)] == [3, 1, 2, 2, 2, 4]


def test_logs_carry_event_ids_but_never_bodies(receiver, caplog):
    body = message(data={"userid": 3, "courseid": 2, "lastaccess": 1795344000})
    body["site"]["url"] = "http://secret-site.test"
    with caplog.at_level("INFO"):
        receiver.post(body)
    logged = json.dumps([r.__dict__ for r in caplog.records], default=str)
    assert body["id"] in logged
    assert "secret-site" not in logged and receiver.secret not in logged


def test_the_same_event_twice_in_one_batch_is_stored_once(receiver, database_url):
    repeated = message(1)
    response = receiver.post({"events": [repeated, message(2), repeated]}, webhook_id="b")
    assert response.status_code == 202
    assert (response.json["accepted"], response.json["duplicates"]) == (2, 1)
    assert len(stored(database_url)) == 2
