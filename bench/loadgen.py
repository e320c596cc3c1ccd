"""A load generator that is not the bottleneck: requests are signed before the clock starts, and
each thread keeps one HTTP/1.1 connection open."""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

from standardwebhooks import Webhook

SITE = {"id": "bench-site", "url": "http://moodle.bench"}


def user_message(uid: int, sequence: int, firstname: str = "Learner") -> dict:
    return {"id": str(uuid.uuid4()), "type": "user.updated", "occurred_at": "2026-11-22T10:00:00Z",
            "sequence": sequence, "subject": f"user:{uid}", "site": SITE, "moodle_event": None,
            "data": {"id": uid, "username": f"learner{uid}", "firstname": f"{firstname}{sequence}",
                     "lastname": "Bench", "email": f"learner{uid}@example.invalid", "suspended": False,
                     "deleted": False, "timemodified": 1795344000 + sequence}}


def enrolment_message(uid: int, courseid: int, sequence: int) -> dict:
    return {"id": str(uuid.uuid4()), "type": "enrolment.updated", "occurred_at": "2026-11-22T10:00:00Z",
            "sequence": sequence, "subject": f"enrolment:{uid}:{courseid}", "site": SITE, "moodle_event": None,
            "data": {"userid": uid, "courseid": courseid,
                     "course": {"id": courseid, "shortname": f"C{courseid}", "fullname": f"Course {courseid}"},
                     "status": "active", "roles": ["student"], "groups": [],
                     "enrolments": [{"id": uid * 100 + courseid, "enrolid": courseid, "method": "manual",
                                     "status": "active", "timestart": 1795344000, "timeend": 0}]}}


def grade_message(uid: int, courseid: int, itemid: int, sequence: int) -> dict:
    return {"id": str(uuid.uuid4()), "type": "grade.updated", "occurred_at": "2026-11-22T10:00:00Z",
            "sequence": sequence, "subject": f"grade:{uid}:{itemid}", "site": SITE, "moodle_event": None,
            "data": {"userid": uid, "courseid": courseid, "itemid": itemid, "finalgrade": 70.0, "percentage": 70.0,
                     "passed": True, "deleted": False, "timemodified": 1795344000,
                     "item": {"itemtype": "mod", "itemmodule": "assign", "itemname": f"Activity {itemid}",
                              "grademax": 100.0, "grademin": 0.0, "gradepass": 50.0}}}


def presign(secret: str, payloads: list[dict | list[dict]]) -> list[tuple[bytes, dict]]:
    """(body, headers) per request: a message, or a batch when given a list."""
    webhook = Webhook(secret)
    now = datetime.now(UTC)
    signed = []
    for payload in payloads:
        if isinstance(payload, list):
            body, webhook_id = json.dumps({"events": payload}), str(uuid.uuid4())
        else:
            body, webhook_id = json.dumps(payload), payload["id"]
        headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(now.timestamp())),
                   "webhook-signature": webhook.sign(webhook_id, now, body), "Content-Type": "application/json"}
        signed.append((body.encode(), headers))
    return signed


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000


def run(url: str, requests_: list[tuple[bytes, dict]], threads: int = 8) -> LoadResult:
    target = urlparse(url)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    chunks = [requests_[i::threads] for i in range(threads)]

    def worker(chunk):
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        mine, codes = [], {}
        for body, headers in chunk:
            started = time.perf_counter()
            connection.request("POST", target.path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            codes[response.status] = codes.get(response.status, 0) + 1
        connection.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    pool = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return LoadResult(len(requests_), time.perf_counter() - started, latencies, statuses)
