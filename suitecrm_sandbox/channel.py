"""The package's CRM → receiver channel, reproduced: outbox, delivery, steering.

A real SuiteCRM with the package records every change a CRM user makes to a synced record in its
outbox (suitecrm_package/templates/CrmSyncHook.php, CrmSyncOutbox.php) and a Scheduler job delivers
signed batches to the receiver's /webhooks/crm (CrmSyncDelivery.php; docs/crm-admin-guide.md, section
3). This module does the same, with the same rules, so that `make run`, the demo and the tests see
what a real CRM sends: one row per save that changes a synced field (values compared as plain text)
or per deletion, never for the sync's own API user; one message per record, built when it is sent,
with the union of the rows' changed fields and the newest row's id as its sequence; rows kept until
a 2xx, narrowed down on 413/422, retried after a capped, jittered backoff otherwise.

The modules with `crm_changes` in crm_schema.yaml (enrolments, groups, intakes) are recorded the same
way, and also when a CRM user relates or unrelates one of the records they name in `related` (the
change is then that name: `contact`, `course`, ...); their messages carry the ids of those parents,
and a CRM user's change of one with a sync state (`waits`) shows `sync_state` pending at once (the
package's before_save).

Where the package waits for SuiteCRM's cron (every minute), a thread of the sandbox delivers as soon
as a row is recorded, and again when the next retry is due.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from standardwebhooks import Webhook

log = logging.getLogger(__name__)

WAITING, DELIVERED, FAILED = "waiting", "delivered", "failed"
DELETED = "deleted"  # what `changed` names for a deletion
# What a crm_changes record a CRM user changed shows at once: "Waiting for Moodle" (CrmSyncHook's before_save).
WAITING_FOR_MOODLE = {"sync_state": "pending", "sync_message": ""}
EMPTY_BATCH_BYTES = len('{"events":[]}')
MAX_BATCHES = 20  # per run, as the scheduler job
IDLE_SECONDS = 60.0  # the scheduler's period: how often an idle thread looks again
INVALID = re.compile(r"^events\.(\d+)(?:\.(.*))?$")


@dataclass
class ChannelSettings:
    """$sugar_config['crmsync'] of the package, with its defaults (CrmSyncDelivery::DEFAULTS)."""

    receiver_url: str
    secret: str
    site_url: str  # the CRM's site_url: `crm.url` of the messages
    batch_size: int = 100
    max_batch_bytes: int = 524288
    timeout: float = 30.0
    backoff_base: int = 60
    backoff_cap: int = 3600


def plain(value: object) -> str:
    """Text as a CRM user typed it: entities decoded until nothing changes (CrmSyncOutbox::plain)."""
    text = "" if value is None else str(value)
    for _ in range(3):
        decoded = html.unescape(text)
        if decoded == text:
            break
        text = decoded
    return text


def changed_fields(fields: list[str], before: dict | None, after: dict) -> list[str]:
    """The synced fields whose value a save changed; a new record: those it gives a value."""
    return [f for f in fields if (plain(after.get(f)) != "" if before is None else plain(before.get(f)) != plain(after.get(f)))]


class Channel:
    """The outbox of one sandbox and the thread that delivers it."""

    def __init__(self, store, modules: dict[str, dict], settings: ChannelSettings | None,
                 now: Callable[[], float], rand: Callable[[], float] = random.random,
                 empty_values: dict[str, dict] | None = None):
        self.store, self.modules, self.settings, self.now, self.rand = store, modules, settings, now, rand
        # module => what a field not written holds (an enum's default): what the bean shows and sends
        self.empty_values = empty_values or {}
        # The package's crm.id: from the CRM's unique_key, kept in its config (here: the sandbox's database).
        unique_key = store.setting("unique_key", lambda: uuid.uuid4().hex)
        self.crm = {"id": hashlib.sha256(unique_key.encode()).hexdigest()[:20],
                    "url": settings.site_url if settings else ""}
        self._delivering = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def configured(self) -> bool:
        return self.settings is not None

    # --- recording (the package's logic hooks) ----------------------------------------------------
    def recording(self, module: str, user: str) -> bool:
        """Only once configured, only synced modules, never for the API user (the client's own user, "")."""
        return self.configured and module in self.modules and user != ""

    def parents(self, module: str, record_id: str) -> dict[str, str | None]:
        """The record's related parents by their name in `related` (none for Contacts)."""
        related = self.modules.get(module, {}).get("related", {})
        found = {}
        for name, definition in related.items():
            ids = self.store.related_ids(definition["relationship"], record_id, "rhs")
            found[name] = ids[-1] if ids else None
        return found

    def children(self, record_id: str) -> list[tuple[str, str, dict]]:
        """(module, id, parents) of the crm_changes records that name this record as a parent."""
        found = []
        for module, definition in self.modules.items():
            for related in definition.get("related", {}).values():
                for child in self.store.related_ids(related["relationship"], record_id, "lhs"):
                    found.append((module, child, self.parents(module, child)))
        return found

    def changes(self, module: str, before: dict | None, after: dict, before_parents: dict,
                after_parents: dict) -> list[str]:
        """The synced fields a save changed, then the names of the related parents it changed."""
        empty = self.empty_values.get(module, {})
        changed = changed_fields(self.modules[module]["fields"], None if before is None else empty | before,
                                 empty | after)
        return changed + [name for name in self.modules[module].get("related", {})
                          if before_parents.get(name) != after_parents.get(name)]

    def before_save(self, module: str, record_id: str, before: dict | None, before_parents: dict,
                    stored: dict, user: str) -> list[str]:
        """CrmSyncHook's before_save: what a CRM user's save changes, to be recorded once it is written;
        a crm_changes record it changes waits for Moodle from now on (`stored` gets that state)."""
        if not self.recording(module, user):
            return []
        changed = self.changes(module, before, stored, before_parents, self.parents(module, record_id))
        if changed and self.modules[module].get("waits"):
            stored.update(WAITING_FOR_MOODLE)
        return changed

    def record_save(self, module: str, record_id: str, changed: list[str]) -> None:
        """CrmSyncHook's after_save: the changes before_save found (none: nothing is recorded)."""
        if changed:
            self._add(module, record_id, "save", changed)

    def record_relationship(self, module: str, record_id: str, before_parents: dict, user: str) -> None:
        """after_relationship_add/delete on a crm_changes record: a parent it names in `related` that a
        CRM user related or unrelated is a change of that name, and the record waits for Moodle."""
        if not self.recording(module, user) or "related" not in self.modules[module]:
            return
        record = self.store.get(module, record_id)
        changed = self.changes(module, {}, {}, before_parents, self.parents(module, record_id))
        if changed and record is not None:
            if self.modules[module].get("waits"):
                self.store.update(record_id, record.fields | WAITING_FOR_MOODLE, self.now())
            self._add(module, record_id, "save", changed)

    def record_delete(self, module: str, record_id: str, user: str) -> None:
        if self.recording(module, user):
            self._add(module, record_id, "delete", [DELETED])

    def _add(self, module: str, record_id: str, action: str, changed: list[str]) -> None:
        self.store.outbox_add(str(uuid.uuid4()), module, record_id, action, changed, self.now(), time.time())
        self._wake.set()  # the immediate send after the response; the thread's timer is the guarantee

    # --- the delivery thread (the package's scheduler job) ----------------------------------------
    def start(self) -> None:
        if self.configured and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="crm-channel", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self._idle_seconds())
            self._wake.clear()
            if self._stopped.is_set():
                return
            try:
                self.deliver()
            except Exception as error:  # noqa: BLE001 - the thread must outlive any one failure
                log.error("CRM channel: delivery run failed: %s", error.__class__.__name__)

    def _idle_seconds(self) -> float:
        due = self.store.outbox_status(limit=0)["next_attempt"]
        return IDLE_SECONDS if due is None else min(IDLE_SECONDS, max(0.05, due - time.time()))

    # --- delivery (CrmSyncDelivery::run) ----------------------------------------------------------
    def deliver(self, ignore_backoff: bool = False) -> dict[str, int]:
        """Send what is due, batch after batch; `ignore_backoff` ("Send now") sends what waits for a retry too."""
        counts = {"delivered": 0, "rows": 0, "retry": 0, "failed": 0}
        if not self.configured:
            return counts
        with self._delivering:
            for _ in range(MAX_BATCHES):
                now = time.time()
                due_by = now + self.settings.backoff_cap + 1 if ignore_backoff else now
                groups = self.store.outbox_due(self.settings.batch_size, due_by)
                if not groups:
                    break
                result = self._send_groups(groups, now)
                for key, count in result.items():
                    counts[key] += count
                if result["retry"] or (result["failed"] and not result["delivered"]):
                    break
        return counts

    def message(self, module: str, record_id: str, rows: list[dict]) -> dict:
        """One record's waiting rows as one message, with the record's state now."""
        definition = self.modules[module]
        newest = rows[-1]
        changed = list(dict.fromkeys(f for row in rows for f in json.loads(row["changed"])))
        record = self.store.get_any(module, record_id)
        values = self.empty_values.get(module, {}) | (record.fields if record else {})
        deleted = record is None or record.deleted
        data: dict = {"id": record_id}
        if "moodle" in definition:  # a Contact: its Moodle identity
            site = plain(values.get(definition["moodle"]["site_id"]))
            user = str(values.get(definition["moodle"]["user_id"]) or "").strip()
            data["moodle"] = ({"site_id": site, "user_id": int(user)} if site and user.isdigit() and int(user) > 0
                              else None)
        data |= {"changed": changed,
                 "fields": {f: plain(values.get(f)) for f in definition["fields"]} if record else {}}
        if "related" in definition:
            # A deleted record's relationships went with it (SuiteCRM marks them deleted too).
            data["related"] = self.parents(module, record_id)
        data |= {"date_modified": int(record.modified_at) if record else None, "deleted": deleted}
        return {
            "id": newest["uuid"], "type": definition["subject"] + (".deleted" if deleted else ".updated"),
            "occurred_at": datetime.fromtimestamp(newest["created"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sequence": newest["id"], "subject": f"{definition['subject']}:{record_id}", "crm": self.crm,
            "data": data}

    def _send_groups(self, groups: list, now: float) -> dict[str, int]:
        counts = {"delivered": 0, "rows": 0, "retry": 0, "failed": 0}
        encoded = [{"json": json.dumps(self.message(module, record_id, rows), ensure_ascii=False,
                                       separators=(",", ":")),
                    "rows": [row["id"] for row in rows], "attempts": max(row["attempts"] for row in rows)}
                   for module, record_id, rows in groups]
        chunks = self._chunks(encoded)
        while chunks:
            error = self._post(chunks.pop(0), now, counts)
            if error is not None:
                # The receiver cannot take more now: what was not sent waits with the same backoff.
                for rest in chunks:
                    self._retry(rest, error, now, counts)
                break
        return counts

    def _chunks(self, encoded: list[dict]) -> list[list[dict]]:
        """POST bodies of at most max_batch_bytes (a larger message gets a POST of its own), in order."""
        chunks, current, size = [], [], EMPTY_BATCH_BYTES
        for message in encoded:
            add = len(message["json"].encode()) + (1 if current else 0)
            if current and size + add > self.settings.max_batch_bytes:
                chunks.append(current)
                current, size, add = [], EMPTY_BATCH_BYTES, len(message["json"].encode())
            current.append(message)
            size += add
        return [*chunks, current] if current else chunks

    def _post(self, chunk: list[dict], now: float, counts: dict) -> str | None:
        """Send one chunk; the error when its rows are to be retried (the receiver cannot take more now)."""
        body = '{"events":[' + ",".join(m["json"] for m in chunk) + "]}"
        status, answer = self._transport(body)
        if 200 <= status < 300:
            rows = [row for m in chunk for row in m["rows"]]
            self.store.outbox_mark(rows, status=DELIVERED, delivered=now)
            counts["delivered"] += len(chunk)
            counts["rows"] += len(rows)
            return None
        if status == 413:
            if len(chunk) > 1:
                return self._post_halves(chunk, now, counts)
            self._fail(chunk, f"HTTP 413: this message alone ({len(body.encode())} bytes) is larger than the "
                              "receiver accepts, so it is not retried", counts)
            return None
        if status == 422:
            invalid = invalid_messages(answer, len(chunk))
            if invalid:
                for position, reason in invalid.items():
                    self._fail([chunk[position]], f"HTTP 422: {reason}", counts)
                # The receiver stores a batch all or nothing: the valid messages go again without the others.
                rest = [m for position, m in enumerate(chunk) if position not in invalid]
                return self._post(rest, now, counts) if rest else None
            if len(chunk) > 1:
                return self._post_halves(chunk, now, counts)
        if status in (400, 415, 422):
            self._fail(chunk, f"HTTP {status}: {answer.strip()}", counts)
            return None
        error = f"HTTP {status}: {answer.strip()}" if status else f"no answer: {answer}"
        self._retry(chunk, error, now, counts)
        return error

    def _post_halves(self, chunk: list[dict], now: float, counts: dict) -> str | None:
        half = len(chunk) // 2
        error = self._post(chunk[:half], now, counts)
        if error is not None:
            self._retry(chunk[half:], error, now, counts)
            return error
        return self._post(chunk[half:], now, counts)

    def _fail(self, messages: list[dict], reason: str, counts: dict) -> None:
        rows = [row for m in messages for row in m["rows"]]
        self.store.outbox_mark(rows, status=FAILED, error=reason[:1000], attempted=True)
        counts["failed"] += len(rows)

    def _retry(self, messages: list[dict], error: str, now: float, counts: dict) -> None:
        """Try again after a backoff that grows with the most attempts any of the messages had."""
        rows = [row for m in messages for row in m["rows"]]
        delay = self.delay(1 + max(m["attempts"] for m in messages))
        self.store.outbox_mark(rows, error=error[:1000], next_attempt=now + delay, attempted=True)
        counts["retry"] += len(rows)
        log.warning("CRM channel: %d changes wait %ds for another try: %s", len(rows), delay, error.split(":")[0])

    def delay(self, attempts: int) -> int:
        """Seconds to wait after the given number of failed attempts: half fixed, half random, capped."""
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** min(max(attempts - 1, 0), 30))
        return round(ceiling / 2 + self.rand() * ceiling / 2)

    def _transport(self, body: str) -> tuple[int, str]:
        """(status, body) of the POST; status 0 when nothing answered."""
        webhook_id = str(uuid.uuid4())
        at = datetime.now(UTC)
        headers = {"Content-Type": "application/json", "webhook-id": webhook_id,
                   "webhook-timestamp": str(int(at.timestamp())),
                   "webhook-signature": Webhook(self.settings.secret).sign(webhook_id, at, body)}
        try:
            response = requests.post(self.settings.receiver_url, data=body.encode(), headers=headers,
                                     timeout=self.settings.timeout, allow_redirects=False)
        except requests.RequestException as error:
            return 0, error.__class__.__name__
        return response.status_code, response.text[:2000]

    # --- steering (the package's Administration → Moodle sync page) -------------------------------
    def retry_failed(self) -> int:
        """The failed rows wait again, due now (after what the receiver refused was fixed)."""
        count = self.store.outbox_retry_failed(time.time())
        self._wake.set()
        return count

    def status(self) -> dict:
        shown = self.store.outbox_status()
        rows = shown.pop("rows")
        return {"configured": self.configured,
                "receiver_url": self.settings.receiver_url if self.settings else None,
                "crm": self.crm, "api_user": "the OAuth2 client's own user (client_credentials tokens)",
                **{key: _iso(value) if key in ("oldest_waiting", "next_attempt", "last_delivered") else value
                   for key, value in shown.items()},
                "rows": [{**row, "changed": json.loads(row["changed"]), "created": _iso(row["created"]),
                          "next_attempt": _iso(row["next_attempt"]), "delivered": _iso(row["delivered"])}
                         for row in rows]}


def invalid_messages(body: str, count: int) -> dict[int, str]:
    """The messages a 422 names, by position: {"errors": {"events.<index>[.<path>]": [reasons]}}."""
    try:
        errors = json.loads(body).get("errors")
    except (ValueError, AttributeError):
        return {}
    found: dict[int, list[str]] = {}
    for key, reasons in (errors.items() if isinstance(errors, dict) else []):
        match = INVALID.match(str(key))
        if match and int(match[1]) < count:
            reasons = reasons if isinstance(reasons, list) else [reasons]
            found.setdefault(int(match[1]), []).append((f"{match[2]}: " if match[2] else "")
                                                       + ", ".join(map(str, reasons)))
    return {position: "; ".join(parts) for position, parts in sorted(found.items())}


def _iso(timestamp: float | None) -> str | None:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if timestamp is not None else None
