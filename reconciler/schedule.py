"""Reconciliations as RQ jobs: started now (the admin API) or by RECONCILE_SCHEDULE, never two at once.

**Why not RQ's own cron (`rq.cron`).** Its CronScheduler is a process of its own (`rq cron`) that keeps
the next start time in memory and enqueues on its own clock: two of them (one per host, as workers
are run) start two runs, one that is down at 02:00 skips the night, and nothing lets a test say what
time it is. Here every worker's periodic loop (crm_connector/commands.py, the sweeper) calls `tick`
with the time; the first to claim a due start in Redis enqueues the run, a worker that was down at the
start time still starts it late within the window, and a test passes the time it wants.

**Never two at once.** `ACTIVE_KEY` in Redis names the one reconciliation job queued or running; a new
start is refused (`AlreadyRunning`: the API's 409, the schedule skips that night) while that job is
alive in RQ. A job that died with its worker leaves the key to a job RQ no longer has, or one it marked
failed: the next start takes the key over. The run's own lease (reconciler/run.py) guards the rest
(`crmsync reconcile` started by hand).

**Slices.** A run is long (hours on a large site at the request caps) and a worker runs one job at a
time: a job reconciles for SLICE_SECONDS, then enqueues its continuation behind the events queued
meanwhile, so live events wait minutes at most, never a whole run. The run's checkpoint makes the
continuation go on where the slice stopped. A scheduled run's window end stops it the same way; the
next scheduled run resumes it.
"""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from redis import Redis
from redis.exceptions import WatchError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from crmsync.config import Config
from reconciler import run

log = logging.getLogger(__name__)

ACTIVE_KEY = "crmsync:reconcile:active"
START_CLAIM_PREFIX = "crmsync:reconcile:scheduled:"
JOB_FUNCTION = "reconciler.schedule.run_slice"
# Live events queued during a run wait at most this long (plus the page being read) for a worker.
SLICE_SECONDS = 120
# A slice stops after its page: the page's requests (each with its timeout, paced) fit in this margin.
JOB_TIMEOUT_SECONDS = SLICE_SECONDS + 900
LIVE_STATES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
# The clock run_slice reads (a function of the module so a test can move time on; never sleeps).
clock = time.time


class AlreadyRunning(Exception):
    """A reconciliation is queued or running: `job_id` names its job, None for one `crmsync reconcile` runs."""

    def __init__(self, job_id: str | None):
        super().__init__(f"a reconciliation is already queued or running (job {job_id})" if job_id else
                         "a reconciliation started by `crmsync reconcile` is running")
        self.job_id = job_id


class SliceEnded(Exception):
    """Raised from the run's progress callback at the end of a slice or of the window: the run stops
    after its current page, its checkpoint written, to go on later."""


def _text(value) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def active_job(redis: Redis) -> str | None:
    """The reconciliation job queued or running, if any (a dead job's leftover key does not count)."""
    job_id = _text(redis.get(ACTIVE_KEY))
    return job_id if job_id and _alive(redis, job_id) else None


def _alive(redis: Redis, job_id: str) -> bool:
    try:
        return Job.fetch(job_id, connection=redis).get_status() in LIVE_STATES
    except NoSuchJobError:
        return False


def _enqueue_in(redis: Redis, pipe, config: Config, job_id: str, trigger: str, deadline: float | None) -> None:
    Queue(config.queue_name, connection=redis).enqueue(
        JOB_FUNCTION, args=(trigger, deadline), job_id=job_id, job_timeout=JOB_TIMEOUT_SECONDS,
        result_ttl=7 * 86400, failure_ttl=7 * 86400, description=f"reconciliation ({trigger})", pipeline=pipe)


def start(redis: Redis, config: Config, trigger: str, deadline: float | None = None) -> str:
    """Enqueue a reconciliation job and make it the active one, atomically; returns its job id.

    `deadline` (Unix time): the end of a scheduled run's window. Raises AlreadyRunning.
    """
    job_id = f"reconcile-{uuid.uuid4().hex}"
    with redis.pipeline() as pipe:
        while True:
            try:
                pipe.watch(ACTIVE_KEY)
                current = _text(pipe.get(ACTIVE_KEY))
                if current and _alive(redis, current):
                    raise AlreadyRunning(current)
                if run.in_progress(redis):  # one started by hand holds the run's lock
                    raise AlreadyRunning(None)
                pipe.multi()
                pipe.set(ACTIVE_KEY, job_id)
                _enqueue_in(redis, pipe, config, job_id, trigger, deadline)
                pipe.execute()
                return job_id
            except WatchError:  # another start (or a slice's hand-over) changed the key: look again
                continue


def _hand_over(redis: Redis, config: Config, job_id: str, trigger: str, deadline: float | None) -> str | None:
    """Enqueue the continuation of the active job `job_id` and make it the active one."""
    follower = f"reconcile-{uuid.uuid4().hex}"
    with redis.pipeline() as pipe:
        while True:
            try:
                pipe.watch(ACTIVE_KEY)
                if _text(pipe.get(ACTIVE_KEY)) != job_id:
                    log.warning("reconciliation job %s is no longer the active one; not continuing it", job_id)
                    return None
                pipe.multi()
                pipe.set(ACTIVE_KEY, follower)
                _enqueue_in(redis, pipe, config, follower, trigger, deadline)
                pipe.execute()
                return follower
            except WatchError:
                continue


def _release(redis: Redis, job_id: str) -> None:
    with redis.pipeline() as pipe:
        while True:
            try:
                pipe.watch(ACTIVE_KEY)
                if _text(pipe.get(ACTIVE_KEY)) != job_id:
                    return
                pipe.multi()
                pipe.delete(ACTIVE_KEY)
                pipe.execute()
                return
            except WatchError:
                continue


# --- the schedule ---------------------------------------------------------------------------------

def latest_start(config: Config, now: datetime) -> datetime:
    """The latest start time RECONCILE_SCHEDULE gives at or before `now` (in RECONCILE_TIMEZONE)."""
    local = now.astimezone(ZoneInfo(config.reconcile_timezone))
    # croniter's get_prev is strictly before its base: a microsecond on, a start at exactly `now` counts.
    return croniter(config.reconcile_schedule, local + timedelta(microseconds=1)).get_prev(datetime)


def tick(redis: Redis, config: Config, now: datetime | None = None) -> str | None:
    """Start the scheduled run if one is due: its start time has come, its window is still open, and
    no worker has started it yet. Called by every worker's periodic loop; returns the job id it enqueued.
    """
    if not config.reconcile_schedule:
        return None
    now = now or datetime.now(UTC)
    started = latest_start(config, now)
    window_end = started + timedelta(hours=config.reconcile_window_hours)
    if now >= window_end:
        return None
    # One claim per start time, whoever ticks first: that start is then done with, run or skipped.
    claim = f"{START_CLAIM_PREFIX}{int(started.timestamp())}"
    if not redis.set(claim, "1", nx=True, exat=int(window_end.timestamp()) + 86400):
        return None
    try:
        job_id = start(redis, config, "schedule", deadline=window_end.timestamp())
    except AlreadyRunning as busy:
        log.info("the reconciliation scheduled for %s is skipped: %s", started.isoformat(), busy)
        return None
    except BaseException:
        redis.delete(claim)  # not started (Redis went away mid-way): the next round tries again
        raise
    log.info("reconciliation scheduled for %s started (job %s, window until %s)", started.isoformat(), job_id,
             window_end.isoformat())
    return job_id


# --- the job --------------------------------------------------------------------------------------

def run_slice(trigger: str, deadline: float | None = None) -> int | None:
    """RQ job: reconcile until done, the slice's end or the window's end; hand over to a continuation
    or notify the admins. Returns the run id once the run is finished."""
    from rq import get_current_job

    from crm_connector import runtime
    from reconciler import notify

    job = get_current_job()
    redis, config = job.connection, runtime.settings()
    stop_at = clock() + SLICE_SECONDS if deadline is None else min(clock() + SLICE_SECONDS, deadline)

    def progress(*_args, **_kwargs) -> None:
        if clock() >= stop_at:
            raise SliceEnded()

    if deadline is not None and clock() >= deadline:
        log.info("reconciliation job %s started after its window closed; the next scheduled run goes on", job.id)
        _release(redis, job.id)
        return None
    try:
        run_id = run.reconcile(config, trigger=trigger, resume=True, progress=progress)
    except run.RunInProgress:
        log.info("reconciliation job %s not run: one started by `crmsync reconcile` is running", job.id)
        _release(redis, job.id)
        return None
    except SliceEnded:
        if deadline is not None and clock() >= deadline:
            log.info("reconciliation window closed; the next scheduled run goes on from here")
            _release(redis, job.id)
        else:
            _hand_over(redis, config, job.id, trigger, deadline)
        return None
    except BaseException:
        _release(redis, job.id)
        raise
    _release(redis, job.id)
    notify.notify_run(config, run_id)
    return run_id
