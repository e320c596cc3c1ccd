"""RQ's work loop, several of them in one `crmsync worker` process (WORKER_THREADS).

A job spends most of its time waiting for SuiteCRM or Moodle to answer; a second loop in the same
process applies another subject meanwhile. Order is not these loops' business: each job claims its
subject in the database (crm_connector/ordering.py), so two loops of one process are as safe as two
processes. What the loops share is the process: its settings, database engine and Redis pool;
each loop has its own CRM and Moodle clients (crm_connector/runtime.py).

RQ's SimpleWorker assumes it owns the process (signal handlers, SIGALRM for job timeouts, a forked
scheduler). Here the main thread owns the signals and asks every loop to stop; a loop notices it when
it next waits for a job (within STOP_POLL_SECONDS while idle, else once its job finished); job
timeouts are RQ's timer-based death penalty, which works in any thread; and RQ's scheduler runs in a
thread of its own, since nothing may fork a process whose other threads hold locks.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty

log = logging.getLogger(__name__)
JOB_MONITORING_SECONDS = 5
REDIS_RETRY_MAX_SECONDS = 30
STOP_POLL_SECONDS = 1  # how long an idle loop blocks on the queue before it looks for a stop request


class ThreadWorker(SimpleWorker):
    """A SimpleWorker that shares its process with other loops: it never touches signals."""

    death_penalty_class = TimerDeathPenalty  # SIGALRM would reach only the main thread

    def __init__(self, *args, stop: threading.Event, **kwargs):
        super().__init__(*args, **kwargs)
        self._stop_event = stop

    @property
    def dequeue_timeout(self) -> int:
        return STOP_POLL_SECONDS

    def _install_signal_handlers(self) -> None:
        pass  # the main thread's (WorkLoops.run)

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        """Wait for a job in turns of STOP_POLL_SECONDS, looking for a stop request between them: where a
        SimpleWorker's signal handler would interrupt its wait, this loop leaves before it takes a job,
        never with one in hand (RQ has moved a dequeued job to its intermediate queue already)."""
        if timeout is None:  # burst: take what is there, or end
            return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
        while not self._stop_event.is_set():
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time=STOP_POLL_SECONDS)
            if result is not None:
                return result
        raise StopRequested()


class WorkLoops:
    """`threads` RQ work loops on the settings' queue; `run` returns when all have stopped."""

    def __init__(self, settings, threads: int, burst: bool):
        self.settings, self.threads, self.burst = settings, threads, burst
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        """Raises the first error a loop ended with (in burst mode: Redis unavailable)."""
        loops = [threading.Thread(target=self._work, args=(self.burst and index == 0,), name=f"work-loop-{index + 1}")
                 for index in range(self.threads)]
        if not self.burst:
            loops.append(threading.Thread(target=self._schedule, name="scheduler"))
        previous = {sig: signal.signal(sig, self._request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for loop in loops:
                loop.start()
            for loop in loops:
                while loop.is_alive():
                    loop.join(0.5)  # a bounded join lets the main thread take the signals
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.errors:
            raise self.errors[0]

    def _request_stop(self, signum, _frame) -> None:
        if self.stop.is_set():
            # A second Ctrl-C or SIGTERM: leave now. The jobs in hand stay queued in the database and the
            # sweeper hands them out again, as after a kill.
            log.warning("stopping at once (%s again); jobs in progress are handed out again",
                        signal.Signals(signum).name)
            os._exit(1)
        log.info("stopping after the jobs in progress (%s)", signal.Signals(signum).name)
        self.stop.set()

    def _work(self, with_scheduler: bool) -> None:
        """RQ's work loop, started again whenever Redis goes away: a worker outlives a Redis outage.

        A job that was running when Redis went away stays `queued` in the database; the sweeper hands
        it out again once Redis is back, so nothing is lost and nothing needs a restart.
        """
        settings = self.settings
        delay = 1.0
        while not self.stop.is_set():
            redis_conn = Redis.from_url(settings.redis_url)
            try:
                # Jobs run in this process, not in a forked work horse: the metrics they count are the
                # ones this process serves, and no job pays for a fork. A killed worker loses its jobs the
                # same way (the events stay queued; the sweeper hands them out again).
                rq_worker = ThreadWorker([Queue(settings.queue_name, connection=redis_conn)], connection=redis_conn,
                                         job_monitoring_interval=JOB_MONITORING_SECONDS, stop=self.stop)
                # RQ's loop logs an unhandled error (Redis gone mid-job) and returns as if asked to stop.
                rq_worker.work(with_scheduler=with_scheduler, burst=self.burst,
                               logging_level=settings.log_level)
                if self.burst or self.stop.is_set():
                    return
                reason = "RQ's work loop ended"
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if self.burst:
                    self.errors.append(exc)
                    return
                reason = f"Redis unavailable ({exc.__class__.__name__})"
            finally:
                redis_conn.close()
            log.warning("%s; the worker starts it again in %.0fs", reason, delay)
            if self.stop.wait(delay):
                return
            delay = min(delay * 2, REDIS_RETRY_MAX_SECONDS)

    def _schedule(self) -> None:
        """RQ's scheduler (retries, rewrites, registration pushes: jobs due later) in a thread of this process.

        RQ would fork it; a fork taken while another loop holds a lock (logging's, a connection pool's)
        leaves the child waiting for it for ever, and the scheduled jobs with it. One scheduler per queue
        runs at a time: the others wait for RQ's lock.
        """
        settings = self.settings
        while not self.stop.is_set():
            redis_conn = Redis.from_url(settings.redis_url)
            scheduler = RQScheduler([settings.queue_name], connection=redis_conn, logging_level=settings.log_level)
            try:
                while not self.stop.is_set():
                    if not scheduler.acquired_locks or scheduler.should_reacquire_locks:
                        scheduler.acquire_locks()
                    if scheduler.acquired_locks:
                        scheduler.heartbeat()
                        scheduler.enqueue_scheduled_jobs()
                    self.stop.wait(scheduler.interval)
            except RedisError as exc:
                log.warning("the scheduler lost Redis (%s); it starts again", exc.__class__.__name__)
                self.stop.wait(1)
            finally:
                try:
                    scheduler.release_locks()
                except RedisError:
                    pass  # the lock expires by itself
                redis_conn.close()
