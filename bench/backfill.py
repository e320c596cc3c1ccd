"""A backfill through the whole path: the plugin's batches → receiver → workers → a SuiteCRM sandbox writing at
the speed of a real one with its search index on (`--preset search-index-on`, or `--preset search-index-off`).

`python -m bench.backfill --learners 10000` is the issue's full size (160,000 events; hours at 13 CRM
writes/s). It shows its progress as it goes (`crmsync backfill-progress`'s line, the batches sent, the
workers' memory) and is resumable: stopped (Ctrl-C) and started again with the same `--dir`, it goes on
where it was, as the plugin does: batches the receiver acknowledged are not sent again, the inbox and the
queue are kept, and an event delivered twice is a duplicate the receiver drops. `--stop-midway` stops the
receiver and the workers once half the events are done and starts them again, in one run (`make bench`
does that at 200 learners), and checks that no event was applied twice.

The baseline is the preset's sequential write ceiling measured in the same run (one client writing
one record after another); the ceiling in events/s is that over the CRM writes each event costs.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import redis
from sqlalchemy import func, select

from bench import harness, loadgen
from bench.crm_speed import WRITES, sequential_baseline
from bench.pipeline import WORKER_THREADS
from bench.report import table, verdict
from crm_connector import progress
from crmsync import db
from crmsync.models import EventStatus, EventTransition
from suitecrm_sandbox.faults import PRESETS
from suitecrm_sandbox.state import CALL_LOG_LIMIT
from suitecrm_sandbox.testing import SandboxProcess

PRESET = "search-index-on"  # what a SuiteCRM installed with its defaults does
BATCH = 100
FLAT_MB = 10  # how much a process may grow between the two halves of a run and still count as flat
NAMESPACE = uuid.UUID("6f1d5e2a-41c4-4a43-9d1e-5b1f3b0f7a10")  # event ids the same in every run: resumable


def messages(learners: int, enrolments: int = 5, grades: int = 10):
    """Every learner's profile, enrolments and grades, in the order the plugin's backfill sends them."""
    sequence = 0
    for uid in range(learners):
        sequence += 1
        yield loadgen.user_message(uid, sequence)
        for course in range(enrolments):
            sequence += 1
            yield loadgen.enrolment_message(uid, 100 + course, sequence)
        for item in range(grades):
            sequence += 1
            yield loadgen.grade_message(uid, 100 + item % enrolments, 1000 + item, sequence)


def batches(learners: int):
    batch = []
    for message in messages(learners):
        message["id"] = str(uuid.uuid5(NAMESPACE, f"{message['subject']}:{message['sequence']}"))
        batch.append(message)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class ResumableStack(harness.Stack):
    """harness.Stack on a directory that outlives the run: inbox, sandbox records, secret and what was sent."""

    directory: Path | None = None
    preset: str = PRESET

    def __post_init__(self):
        self.tmp = self.directory
        self._postgres = None  # a SQLite inbox in the directory, kept between runs
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.fresh = not (self.tmp / "bench.db").exists()
        if self.fresh:
            redis.Redis.from_url(harness.BENCH_REDIS).flushdb()
        self.database_url = f"sqlite:///{self.tmp / 'bench.db'}"
        db.upgrade(self.database_url)
        secret = self.tmp / "secret"
        if self.fresh or not secret.exists():
            secret.write_text("whsec_" + base64.b64encode(os.urandom(32)).decode())
        self.secret = secret.read_text()
        self.sandbox = SandboxProcess(database=str(self.tmp / "sandbox.db")).start()
        try:
            self.start_backfill()
        except BaseException:
            self.stop()
            raise

    def start_backfill(self) -> None:
        """Receiver and workers (again); the CRM keeps running."""
        self._start_stack()
        self.sandbox.set_faults(preset=self.preset)  # the stack's own fault settings leave out the CRM's speed

    def stop_backfill(self) -> None:
        """Receiver and workers stop as on a deploy (SIGTERM: a worker finishes its job); the CRM stays."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except Exception:  # noqa: BLE001 - one that does not stop is killed with its group
                pass
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        self.processes = []

    @property
    def sent_file(self) -> Path:
        return self.tmp / "batches-acknowledged"

    def acknowledged(self) -> int:
        return int(self.sent_file.read_text()) if self.sent_file.exists() else 0


class Sender(threading.Thread):
    """The plugin's delivery: batch after batch, signed when sent, the next only after a 2xx."""

    def __init__(self, stack: ResumableStack, learners: int):
        super().__init__(daemon=True)
        self.stack, self.learners, self.stop = stack, learners, threading.Event()
        self.done = False

    def run(self) -> None:
        target = urlparse(self.stack.url)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        start = self.stack.acknowledged()
        for index, batch in enumerate(batches(self.learners)):
            if index < start:
                continue
            if self.stop.is_set():
                return
            (body, headers), = loadgen.presign(self.stack.secret, [batch])
            try:
                connection.request("POST", target.path, body=body, headers=headers)
                response = connection.getresponse()
                response.read()
            except OSError:
                return  # the receiver went away: what was not acknowledged is sent by the next run
            if response.status != 202:
                raise RuntimeError(f"the receiver answered {response.status} to batch {index}")
            self.stack.sent_file.write_text(str(index + 1))
        self.done = True


def twice_applied(database_url: str) -> int:
    """Events with more than one applied transition: must be none."""
    with db.session_scope(database_url) as session:
        repeated = (select(EventTransition.event_id).where(EventTransition.status == EventStatus.APPLIED)
                    .group_by(EventTransition.event_id).having(func.count() > 1))
        return session.scalar(select(func.count()).select_from(repeated.subquery())) or 0


def last_finished(database_url: str) -> datetime:
    """When the last event was finished, from the inbox's own history: not when a progress line noticed."""
    with db.session_scope(database_url) as session:
        return session.scalar(select(func.max(EventTransition.at)).where(
            EventTransition.status.in_([EventStatus.APPLIED, EventStatus.SKIPPED, EventStatus.FAILED])))


@dataclass
class Memory:
    """RSS samples over the run, MB: the largest worker's and the largest receiver process's."""

    worker: list[float] = field(default_factory=list)
    receiver: list[float] = field(default_factory=list)

    def sample(self, stack: ResumableStack) -> tuple[float, float]:
        worker, receiver = max(stack.worker_rss(), default=0), max(stack.receiver_rss(), default=0)
        for samples, value in ((self.worker, worker), (self.receiver, receiver)):
            if value:
                samples.append(value)
        return worker, receiver


def memory_rows(name: str, samples: list[float], limit: float) -> list[tuple]:
    """Its size (first, largest and last sample, under `limit`) and whether it stays flat: the largest sample
    of the run's second half against the first half's."""
    if not samples:
        return [(f"{name} RSS, MB", "no sample", "", "", verdict(False, f"< {limit:.0f} MB"))]
    half = len(samples) // 2
    growth = round(max(samples[half:]) - max(samples[:half] or samples))
    return [(f"{name} RSS first / max / last sample, MB", f"{samples[0]:.0f} / {max(samples):.0f} / {samples[-1]:.0f}",
             "", "", verdict(max(samples) < limit, f"< {limit:.0f} MB")),
            (f"{name} RSS growth, second half over first half, MB", f"{growth:+d}", "", "",
             verdict(growth <= FLAT_MB, f"flat: <= {FLAT_MB} MB"))]


def watch(stack: ResumableStack, sender: Sender, total: int, until_done: float, every: float,
          rss: Memory) -> bool:
    """Print progress until `until_done` of the events are finished; False when stopped by Ctrl-C."""
    total_batches = -(-total // BATCH)
    while True:
        with db.session_scope(stack.database_url) as session:
            now = progress.snapshot(session, window_seconds=30)
        worker, receiver = rss.sample(stack)
        print(f"  {time.strftime('%H:%M:%S')} batches {stack.acknowledged():,}/{total_batches:,} · {now.line()} · "
              f"RSS worker {worker:.0f} MB, receiver {receiver:.0f} MB", file=sys.stderr, flush=True)
        if sender.done and now.done + now.failed >= until_done * total and (until_done < 1 or not now.waiting):
            return True
        time.sleep(every)


def run(learners: int = 200, workers: int = 4, stop_midway: bool = False, directory: Path | None = None,
        every: float = 5, preset: str = PRESET) -> str:
    directory = directory or Path(tempfile.mkdtemp(prefix="crmsync-backfill-"))
    print(f"  backfill of {learners:,} learners, state in {directory}", file=sys.stderr)
    total = learners * 16
    stack = ResumableStack(workers=workers, directory=directory, preset=preset)
    rss = Memory()
    down = 0.0
    try:
        stack.sandbox.clear_calls()
        baseline = sequential_baseline(stack.sandbox, 30)
        stack.sandbox.clear_calls()
        started = datetime.now(UTC)
        with db.session_scope(stack.database_url) as session:
            finished_before = progress.snapshot(session).done  # by the runs this one resumes
        if not stack.fresh:
            print(f"  resuming the backfill in {directory}: {finished_before:,} events done", file=sys.stderr)
        sender = Sender(stack, learners)
        sender.start()
        if stop_midway:
            watch(stack, sender, total, 0.5, every, rss)
            sender.stop.set()
            stopped = datetime.now(UTC)
            stack.stop_backfill()
            sender.join()
            print("  stopped the receiver and the workers midway; starting them again", file=sys.stderr)
            stack.start_backfill()
            down = (datetime.now(UTC) - stopped).total_seconds()
            sender = Sender(stack, learners)
            sender.start()
        watch(stack, sender, total, 1.0, every, rss)
        finished = last_finished(stack.database_url)
        calls = stack.sandbox.calls()
        with db.session_scope(stack.database_url) as session:
            done = progress.snapshot(session)
        repeated = twice_applied(stack.database_url)
    except KeyboardInterrupt:
        print(f"\n  stopped: run again with --dir {directory} to go on", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        stack.stop()
    # A run resumed after everything was done finishes nothing: its last event is older than its start.
    elapsed = max((finished - started).total_seconds(), 0.0)
    running = max(elapsed - down, 1e-9)
    writes = sum(1 for c in calls if c["method"] in WRITES)
    # The sandbox's call log holds the last CALL_LOG_LIMIT calls, of this run only.
    complete = len(calls) < CALL_LOG_LIMIT and stack.fresh
    per_event = writes / total if complete else None
    this_run = total - finished_before
    rate = this_run / running
    ceiling = baseline / per_event if per_event else None
    rows = [("events", f"{total:,}" + (f" ({this_run:,} in this run)" if finished_before else ""),
             "", "", ""),
            ("total time, s" + (" (with the stop and restart)" if stop_midway else "")
             + (" (this run)" if finished_before else ""), f"{elapsed:.1f}", "", "", ""),
            ("events/s while running", f"{rate:.1f}", f"{ceiling:.1f} (ceiling)" if ceiling else "",
             f"{rate / ceiling:.2f}" if ceiling else "", verdict(rate >= 0.9 * ceiling, ">= 0.90") if ceiling else ""),
            ("CRM writes per event", f"{per_event:.2f}" if per_event else "(call log full)", "", "", ""),
            ("sequential write ceiling, writes/s", f"{baseline:.1f}", "", "", ""),
            ("applied / skipped / failed", f"{done.counts.get('applied', 0):,} / {done.counts.get('skipped', 0):,} / "
             f"{done.failed:,}", f"{total:,}", "", verdict(done.done == total and not done.failed, "all, none failed")),
            ("events applied twice", str(repeated), "0", "", verdict(repeated == 0, "0")),
            *memory_rows("worker", rss.worker, 150), *memory_rows("receiver", rss.receiver, 100)]
    return table("Backfill", f"{learners:,} learners x (profile + 5 enrolments + 10 grades), batches of {BATCH}, "
                 f"{workers} workers of WORKER_THREADS={WORKER_THREADS} (the default) loops each, "
                 f"sandbox --preset {preset}, SQLite inbox"
                 + ("; stopped midway and started again" if stop_midway else "")
                 + " (the full size: `python -m bench.backfill --learners 10000`)", rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--dir", type=Path, default=None, help="keep the backfill's state here (to resume it)")
    parser.add_argument("--stop-midway", action="store_true", help="stop and restart receiver and workers at half")
    parser.add_argument("--every", type=float, default=10, help="seconds between progress lines")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=PRESET,
                        help="the CRM's speed: a real SuiteCRM's with its search index on (the default) or off")
    args = parser.parse_args()
    print(run(args.learners, args.workers, args.stop_midway, args.dir, args.every, args.preset))
