"""Moodle's current state, as the plugin's outbox would send it: pages of `local_crmsync_export_state`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from reconciler.pacing import RequestPacer

# Every kind the plugin exports (RECONCILE.md), in the order they are read: a learner's Contact and the
# courses first, so the facets later kinds add to a record (an enrolment's course grade) find it.
KINDS = ("user", "course", "enrolment", "group", "grade", "course_completion", "module_completion",
         "attendance", "consent", "course_summary")
MOODLE_PAGE_CAP = 1000  # the plugin caps `limit` there


@dataclass
class Page:
    kind: str
    fromid: int  # the page's own start: reading it again from here gives the same items
    messages: list[dict]
    nextfromid: int  # 0: the kind has no more
    total: int


def pages(client, kind: str, fromid: int, limit: int, pacer: RequestPacer) -> Iterator[Page]:
    """The kind's pages from `fromid` on; each item's message is decoded from its JSON text."""
    limit = min(limit, MOODLE_PAGE_CAP)
    while True:
        pacer.wait()
        answer = client.export_state(kind, fromid=fromid, limit=limit)
        messages = [json.loads(item["message"]) for item in answer.get("items", [])]
        nextfromid = int(answer.get("nextfromid") or 0)
        yield Page(kind, fromid, messages, nextfromid, int(answer.get("total") or 0))
        if not nextfromid or not messages:
            return
        fromid = nextfromid
