"""One reconciliation at a time, resumable, paced: Moodle's state, then the CRM's records, then what is missing.

1. **Moodle** (`moodle_state`): every kind's pages; each message becomes the records the connector would
   have the CRM hold (`compare.expected_records`), staged in Redis per module (key → expected record).
2. **CRM** (`crm_state`): every module's pages of this site's records; each is matched to its staged
   expectation by the Moodle entity it stands for, its differences are stored, and its key is marked seen.
3. **Missing**: the staged records the CRM should hold and showed none for.

The checkpoint (where the next page starts) is committed after each page together with that page's
differences, and the staged state is written before it, idempotently: a run stopped anywhere goes on with
the page it was on and finds every difference once. A Redis lock (RECONCILE_LEASE_SECONDS, renewed after each
page) keeps two runs from overlapping; a crashed run's lock runs out and the next run goes on from its
checkpoint. Each system's requests are spaced by its cap (RECONCILE_MOODLE_RPS, RECONCILE_CRM_RPS).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import LockError
from sqlalchemy import select

from crm_connector import to_moodle
from crm_connector.mapping import MappingError
from crm_connector.moodle.errors import PermanentError as MoodlePermanent
from crm_connector.suitecrm import SuiteCrmClient
from crm_connector.suitecrm.errors import PermanentError as CrmPermanent
from crmsync import db
from crmsync.config import Config, ConfigError
from crmsync.models import CrmRecord, ReconcileDifference, ReconcileRun, ReconcileStatus
from reconciler import compare, crm_state, kinds, moodle_state, report
from reconciler.pacing import RequestPacer

log = logging.getLogger(__name__)
LOCK_NAME = "crmsync:reconcile:lock"
STAGE_TTL_SECONDS = 7 * 86400
PHASES = ("moodle", "crm", "missing")
PERMANENT = (MappingError, MoodlePermanent, CrmPermanent, ConfigError)


class RunInProgress(Exception):
    """Another reconciliation holds the lock (the admin API answers 409)."""


class LeaseLost(Exception):
    """The run's lock ran out (it paused longer than RECONCILE_LEASE_SECONDS): another run may have begun."""


@dataclass
class Progress:
    """Told to the progress callback after each page is committed."""

    run_id: int
    phase: str  # moodle | crm | missing
    name: str  # the Moodle kind or the CRM module
    page: int  # pages this call of reconcile has committed so far
    items: int  # items of this page
    differences: int  # differences the run has found so far


def in_progress(redis: Redis) -> bool:
    return bool(redis.exists(LOCK_NAME))


def _stage_key(run_id: int, what: str, module: str) -> str:
    return f"crmsync:reconcile:{run_id}:{what}:{module}"


class Reconciliation:
    def __init__(self, config: Config, redis: Redis, moodle, crm, progress: Callable[[Progress], None] | None,
                 clock: Callable[[], float], sleep: Callable[[float], None]):
        self.config, self.redis, self.moodle, self.crm = config, redis, moodle, crm
        self.progress = progress or (lambda _progress: None)
        self.moodle_pacer = RequestPacer(config.reconcile_moodle_rps, clock, sleep)
        self.crm_pacer = RequestPacer(config.reconcile_crm_rps, clock, sleep)
        self.pages_done = 0
        self.lock = None
        self.counted = (moodle.calls, crm.calls)  # requests already added to the run's count

    # --- the run ------------------------------------------------------------------------------------
    def run(self, session, run: ReconcileRun) -> None:
        checkpoint = run.checkpoint or {"phase": "moodle", "index": 0, "at": 0}
        phase = PHASES.index(checkpoint["phase"])
        if phase <= 0:
            self._moodle(session, run, checkpoint)
            checkpoint = {"phase": "crm", "index": 0, "at": 1}
        if not run.site_id:
            run.site_id = to_moodle.moodle_site(session, self.config) or ""
        if not run.site_id:
            raise ConfigError("MOODLE_SITE_ID is not set and Moodle exported no message naming its site")
        if phase <= 1:
            self._crm(session, run, checkpoint)
            checkpoint = {"phase": "missing", "index": 0, "at": 0}
        self._missing(session, run, checkpoint)

    def _commit_page(self, session, run: ReconcileRun, checkpoint: dict, found: list, phase: str, name: str,
                     items: int) -> None:
        report.record(session, run, found)
        moodle_calls, crm_calls = self.moodle.calls - self.counted[0], self.crm.calls - self.counted[1]
        self.counted = (self.moodle.calls, self.crm.calls)
        report.add_requests(run, moodle_calls, crm_calls)
        run.checkpoint = checkpoint
        session.commit()
        self._renew()
        self.pages_done += 1
        self.progress(Progress(run.id, phase, name, self.pages_done, items, report.total(run)))

    def _renew(self) -> None:
        try:
            self.lock.reacquire()
        except LockError:
            raise LeaseLost("the reconciliation's lock ran out; another run may have started") from None

    # --- 1. Moodle --------------------------------------------------------------------------------------
    def _moodle(self, session, run: ReconcileRun, checkpoint: dict) -> None:
        for index in range(checkpoint["index"], len(moodle_state.KINDS)):
            kind = moodle_state.KINDS[index]
            fromid = checkpoint["at"] if index == checkpoint["index"] else 0
            for page in moodle_state.pages(self.moodle, kind, fromid, self.config.reconcile_page_size,
                                           self.moodle_pacer):
                self._stage(session, run, page.messages)
                nxt = ({"phase": "moodle", "index": index, "at": page.nextfromid} if page.nextfromid
                       else {"phase": "moodle", "index": index + 1, "at": 0})
                self._commit_page(session, run, nxt, [], "moodle", kind, len(page.messages))

    def _stage(self, session, run: ReconcileRun, messages: list[dict]) -> None:
        records: dict[tuple[str, str], dict] = {}
        for message in messages:
            if not run.site_id:
                run.site_id = message["site"]["id"]
            try:
                expected = compare.expected_records(session, self.config, run.site_id, message)
            except MappingError as exc:
                # The connector dead-letters such a message too: its records are compared with nothing.
                log.warning("reconciliation %s: %s cannot be mapped (%s); its CRM records count as extra",
                            run.id, message.get("subject"), exc)
                continue
            for key, record in expected.items():
                slot = (record["module"], key)
                records[slot] = compare.merge(records.get(slot), record)
        by_module: dict[str, list[str]] = {}
        for module, key in records:
            by_module.setdefault(module, []).append(key)
        for module, keys in by_module.items():
            name = _stage_key(run.id, "expected", module)
            stored = self.redis.hmget(name, keys)
            merged = {key: json.dumps(compare.merge(json.loads(old) if old else None, records[(module, key)]))
                      for key, old in zip(keys, stored, strict=True)}
            pipe = self.redis.pipeline()
            pipe.hset(name, mapping=merged)
            pipe.expire(name, STAGE_TTL_SECONDS)
            pipe.execute()

    # --- 2. CRM ------------------------------------------------------------------------------------------
    def _crm(self, session, run: ReconcileRun, checkpoint: dict) -> None:
        size = self.config.reconcile_page_size
        for index in range(checkpoint["index"], len(crm_state.MODULES)):
            module = crm_state.MODULES[index]
            number = checkpoint["at"] if index == checkpoint["index"] else 1
            for page in crm_state.pages(self.crm, module, run.site_id, self.config, number, size, self.crm_pacer):
                found = self._compare_page(session, run, module, page.records)
                nxt = ({"phase": "crm", "index": index + 1, "at": 1} if page.last
                       else {"phase": "crm", "index": index, "at": page.number + 1})
                self._commit_page(session, run, nxt, found, "crm", module.name, len(page.records))

    def _compare_page(self, session, run: ReconcileRun, module: crm_state.CrmModule, records: list[dict]) -> list:
        keyed = [(module.key(record), record) for record in records]
        keyed = [(key, record) for key, record in keyed if key]
        keys = sorted({key for key, _ in keyed})
        if not keys:
            return []
        expected_name, seen_name = _stage_key(run.id, "expected", module.name), _stage_key(run.id, "seen", module.name)
        expected = dict(zip(keys, self.redis.hmget(expected_name, keys), strict=True))
        seen = {k: v.decode() for k, v in zip(keys, self.redis.hmget(seen_name, keys), strict=True) if v}
        rows = {row.entity_key: row for row in session.scalars(select(CrmRecord).where(
            CrmRecord.site_id == run.site_id, CrmRecord.entity_key.in_(keys)))}
        found, newly_seen = [], {}
        for key, record in keyed:
            row = rows.get(key)
            mapped_id = row.crm_id if row is not None and not row.tombstone else None
            first = seen.get(key) or newly_seen.get(key)
            if mapped_id and record["id"] != mapped_id and expected[key]:
                found.append(compare.duplicate(module.name, key, record, mapped_id))
                continue
            if not mapped_id and first and first != record["id"]:
                found.append(compare.duplicate(module.name, key, record, first))
                continue
            newly_seen[key] = record["id"]
            if expected[key] is None:
                difference = compare.unexpected(module.name, key, record, row)
                if difference is not None:
                    found.append(difference)
                continue
            wanted = json.loads(expected[key])
            if not wanted["frozen"]:
                found += compare.field_differences(module.name, key, wanted, record)
        if newly_seen:
            pipe = self.redis.pipeline()
            pipe.hset(seen_name, mapping=newly_seen)
            pipe.expire(seen_name, STAGE_TTL_SECONDS)
            pipe.execute()
        return found

    # --- 3. missing ---------------------------------------------------------------------------------
    def _missing(self, session, run: ReconcileRun, checkpoint: dict) -> None:
        for index in range(checkpoint["index"], len(crm_state.MODULES)):
            module = crm_state.MODULES[index]
            cursor = checkpoint["at"] if index == checkpoint["index"] else 0
            expected_name = _stage_key(run.id, "expected", module.name)
            seen_name = _stage_key(run.id, "seen", module.name)
            while True:
                cursor, batch = self.redis.hscan(expected_name, cursor, count=self.config.reconcile_page_size)
                found = self._missing_in(session, run, module, seen_name, batch)
                nxt = ({"phase": "missing", "index": index, "at": cursor} if cursor
                       else {"phase": "missing", "index": index + 1, "at": 0})
                self._commit_page(session, run, nxt, found, "missing", module.name, len(batch))
                if not cursor:
                    break

    def _missing_in(self, session, run: ReconcileRun, module, seen_name: str, batch: dict) -> list:
        if not batch:
            return []
        keys = [key.decode() for key in batch]
        seen = dict(zip(keys, self.redis.hmget(seen_name, keys), strict=True))
        wanted = {key: json.loads(value) for key, value in zip(keys, batch.values(), strict=True)}
        absent = [key for key in keys if not seen[key] and wanted[key]["must_exist"] and not wanted[key]["frozen"]]
        if not absent:
            return []
        # HSCAN may return a key twice: one already reported is not reported again.
        reported = set(session.scalars(select(ReconcileDifference.key).where(
            ReconcileDifference.run_id == run.id, ReconcileDifference.kind == kinds.MISSING_IN_CRM,
            ReconcileDifference.crm_module == module.name, ReconcileDifference.key.in_(absent))))
        rows = {row.entity_key: row for row in session.scalars(select(CrmRecord).where(
            CrmRecord.site_id == run.site_id, CrmRecord.entity_key.in_(absent)))}
        return [compare.missing(key, wanted[key], rows.get(key)) for key in absent if key not in reported]

    def forget_stage(self, run_id: int) -> None:
        names = [_stage_key(run_id, what, module.name) for what in ("expected", "seen") for module in crm_state.MODULES]
        self.redis.delete(*names)


def _record_stop(session, run: ReconcileRun, exc: BaseException) -> None:
    """The run stopped part-way: interrupted (it goes on from its checkpoint next time), or failed when
    going on cannot help. With the database away nothing can be recorded: the run stays `running`, its
    lock runs out, and the next run goes on from the last checkpoint committed."""
    permanent = isinstance(exc, PERMANENT)
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    try:
        session.rollback()
        session.refresh(run)
        report.finish(run, ReconcileStatus.FAILED if permanent else ReconcileStatus.INTERRUPTED,
                      f"{exc.__class__.__name__}: {reason}" if reason else exc.__class__.__name__)
        session.commit()
    except Exception as failure:  # noqa: BLE001 - the stop itself is what the caller must see
        log.warning("reconciliation %s stopped (%s) and could not record it: %s", run.id,
                    exc.__class__.__name__, failure.__class__.__name__)


def _clients(config: Config, redis: Redis):
    config.require("moodle_url", "moodle_token", "suitecrm_url", "suitecrm_client_id", "suitecrm_client_secret")
    crm = SuiteCrmClient(config.suitecrm_url, config.suitecrm_client_id, config.suitecrm_client_secret,
                         config.suitecrm_username, config.suitecrm_password, config.suitecrm_timeout_seconds,
                         redis=redis)
    return to_moodle.client(config), crm


def _resumable(session, redis: Redis) -> ReconcileRun | None:
    """The run to go on with: the newest one, if it stopped part-way (or crashed: no lock held any more) and
    its staged state is still in Redis."""
    run = report.latest(session)
    if run is None or run.status not in (ReconcileStatus.INTERRUPTED, ReconcileStatus.RUNNING):
        return None
    phase = (run.checkpoint or {}).get("phase", "moodle")
    staged = any(redis.exists(_stage_key(run.id, "expected", m.name)) for m in crm_state.MODULES)
    if run.checkpoint and phase != "moodle" and not staged:
        report.finish(run, ReconcileStatus.FAILED, "abandoned: its staged Moodle state is no longer in Redis")
        session.commit()
        return None
    return run


def reconcile(config: Config, trigger: str = "cli", resume: bool = True,
              progress: Callable[[Progress], None] | None = None, dry_run: bool = False,
              clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> int:
    """Compare the Moodle site with the CRM; the run's id. `resume`: go on with an interrupted run (False:
    abandon it and start over). Raises RunInProgress when another run holds the lock."""
    redis = Redis.from_url(config.redis_url)
    lock = redis.lock(LOCK_NAME, timeout=config.reconcile_lease_seconds, blocking=False)
    if not lock.acquire():
        raise RunInProgress("a reconciliation is running already")
    try:
        moodle, crm = _clients(config, redis)
        work = Reconciliation(config, redis, moodle, crm, progress, clock, sleep)
        work.lock = lock
        with db.session_scope(config.database_url) as session:
            run = _resumable(session, redis)
            if run is not None and not resume:
                report.finish(run, ReconcileStatus.FAILED, "abandoned: a new run was started with --restart")
                work.forget_stage(run.id)
                run = None
            if run is None:
                run = report.start_run(session, config, trigger, dry_run)
            else:
                log.info("reconciliation %s goes on from %s", run.id, run.checkpoint)
                run.status, run.error = ReconcileStatus.RUNNING, None
            session.commit()
            try:
                work.run(session, run)
            except BaseException as exc:
                _record_stop(session, run, exc)
                raise
            report.finish(run, ReconcileStatus.DONE)
            run.checkpoint = None
            session.commit()
            work.forget_stage(run.id)
            log.info("reconciliation %s done: %d differences, requests %s", run.id, report.total(run), run.requests)
            return run.id
    finally:
        try:
            lock.release()
        except LockError:
            pass  # ran out already
