"""Sub-commands of `crmsync` that the connector contributes: worker, replay, backfill-progress, demo."""

from __future__ import annotations

import logging
import threading
import time

import click

from crmsync.cli import load_config
from crmsync.models import EventStatus

log = logging.getLogger(__name__)
PURGE_INTERVAL_SECONDS = 3600


def _sweep_forever(settings, stop: threading.Event) -> None:
    """Re-enqueue what was left pending or lost; once an hour, purge what is past its retention; start the
    scheduled reconciliation when it is due (RECONCILE_SCHEDULE: every worker looks, one starts it); the
    registration service's periodic work (registration/schedule.py: expired holds, missed pushes, digests) and
    its catalogue's pull from the CRM every REGISTRATION_CATALOGUE_SECONDS (registration/jobs.py; one worker
    does each)."""
    from redis import Redis

    from crmsync import db, queue, retention
    from reconciler import schedule
    from registration import jobs as registration_jobs
    from registration import schedule as registration_schedule

    redis_conn = Redis.from_url(settings.redis_url)
    next_purge = time.monotonic()
    while not stop.wait(settings.sweep_interval_seconds):
        try:
            with db.session_scope(settings.database_url) as session:
                queue.sweep(session, redis_conn, settings)
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + PURGE_INTERVAL_SECONDS
                    counts = retention.purge(session, settings)
                    if any(counts.values()):
                        log.info("purged events past their retention: %s", counts)
        except Exception as exc:  # noqa: BLE001 - the sweeper must outlive a Redis or DB outage
            log.warning("sweep failed, will try again: %s", exc.__class__.__name__)
        try:
            schedule.tick(redis_conn, settings)
        except Exception as exc:  # noqa: BLE001 - as the sweep: the next round looks again, within the window
            log.warning("the reconciliation schedule could not be checked, will try again: %s",
                        exc.__class__.__name__)
        try:
            registration_schedule.tick(redis_conn, settings)
        except Exception as exc:  # noqa: BLE001 - as the sweep: the next round does it
            log.warning("the registration service's periodic work failed, will try again: %s",
                        exc.__class__.__name__)
        try:
            registration_jobs.tick(redis_conn, settings)
        except Exception as exc:  # noqa: BLE001 - as the sweep: the next round looks again
            log.warning("the registration catalogue pull could not be queued, will try again: %s",
                        exc.__class__.__name__)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty (tests, one-off drains).")
@click.pass_context
def worker(ctx: click.Context, burst: bool) -> None:
    """Run a connector worker: applies queued events to SuiteCRM, WORKER_THREADS at a time (run more of them
    to scale)."""
    from prometheus_client import start_http_server

    from crm_connector.work_loops import WorkLoops
    from crmsync import db, logs

    settings = load_config(ctx)
    settings.require("suitecrm_url", "suitecrm_client_id", "suitecrm_client_secret")
    logs.configure(settings)
    db.upgrade(settings.database_url)
    if settings.worker_metrics_port:
        from prometheus_client import REGISTRY

        from reconciler.notify import ReconcileCollector

        REGISTRY.register(ReconcileCollector(db.session_factory(settings.database_url)))
        start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_address)
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_forever, args=(settings, stop), daemon=True, name="sweeper")
    sweeper.start()
    try:
        WorkLoops(settings, settings.worker_threads, burst).run()
    finally:
        stop.set()


@click.command("replay")
@click.option("--status", default="failed", show_default=True, type=click.Choice(EventStatus.ALL),
              help="Replay events in this status.")
@click.option("--type", "message_type", default=None, help="Only this message type, e.g. grade.updated.")
@click.option("--subject", default=None, help="Only this subject, e.g. user:3.")
@click.option("--since", default=None, type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
              help="Only events received at or after this time (ISO-8601, e.g. 2026-11-01T00:00:00+00:00; UTC "
                   "when no offset is given).")
@click.option("--batch", default=500, show_default=True, type=click.IntRange(min=1), help="Events enqueued per round.")
@click.pass_context
def replay(ctx: click.Context, status: str, message_type: str | None, subject: str | None, since: str | None,
           batch: int) -> None:
    """Send dead letters (or any events) through the connector again, showing progress."""
    from datetime import UTC

    from redis import Redis
    from sqlalchemy import select

    from crmsync import db, queue
    from crmsync.models import InboxEvent

    settings = load_config(ctx)
    statement = select(InboxEvent.id).where(InboxEvent.status == status).order_by(InboxEvent.sequence)
    if message_type:
        statement = statement.where(InboxEvent.type == message_type)
    if subject:
        statement = statement.where(InboxEvent.subject == subject)
    if since:
        statement = statement.where(InboxEvent.received_at >= (since if since.tzinfo else since.replace(tzinfo=UTC)))
    redis_conn = Redis.from_url(settings.redis_url)
    with db.session_scope(settings.database_url) as session:
        ids = session.scalars(statement).all()
        if not ids:
            click.echo(f"no {status} events match")
            return
        with click.progressbar(length=len(ids), label=f"replaying {len(ids)} events") as bar:
            for start in range(0, len(ids), batch):
                chunk = ids[start:start + batch]
                queue.replay(session, redis_conn, settings, chunk)
                bar.update(len(chunk))
    click.echo(f"{len(ids)} events queued again; watch them with `crmsync status`")


@click.command("backfill-progress")
@click.option("--every", default=5.0, show_default=True, type=click.FloatRange(min=0.5),
              help="Seconds between two lines.")
@click.option("--window", default=60.0, show_default=True, type=click.FloatRange(min=1),
              help="The rate is of the events finished in this many seconds before each line.")
@click.option("--once", is_flag=True, help="Print one line and stop.")
@click.pass_context
def backfill_progress(ctx: click.Context, every: float, window: float, once: bool) -> None:
    """Show a backfill's progress (events waiting, applied, rate, time left) until nothing waits."""
    from crm_connector import progress
    from crmsync import db

    settings = load_config(ctx)
    while True:
        with db.session_scope(settings.database_url) as session:
            now = progress.snapshot(session, window)
        click.echo(f"{time.strftime('%H:%M:%S')} {now.line()}")
        if once or not now.waiting:
            return
        time.sleep(every)


@click.command("demo")
@click.option("--url", default=None, help="Receiver webhook URL (default http://BIND/webhooks/moodle).")
@click.option("--secret", default=None, help="Signing secret (default: WEBHOOK_SECRETS, else var/webhook-secret).")
@click.option("--wait", "wait_seconds", default=30.0, show_default=True,
              help="Seconds to wait for the CRM writes, then for the CRM edit to reach Moodle.")
@click.pass_context
def demo(ctx: click.Context, url: str | None, secret: str | None, wait_seconds: float) -> None:
    """Send the sample Moodle event stream to a running receiver and show what the CRM now holds; then edit a
    learner's Contact as a CRM user and show the edit arriving in Moodle; then enrol the learners with an
    intake and move them to another group, made in the CRM and shown in Moodle."""
    from crm_connector import demo as sample
    from crm_connector import demo_intake

    settings = load_config(ctx)
    url = url or f"http://{settings.bind}/webhooks/moodle"
    secret = secret or (settings.webhook_secrets[0] if settings.webhook_secrets else sample.stored_secret())
    sent = sample.send_stream(url, secret)
    click.echo(f"sent {sent} sample events to {url}")
    crm = sample.crm_client(settings)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline and not sample.arrived(crm):
        time.sleep(1)
    try:
        summary = sample.crm_summary(crm)
    except sample.CrmError as exc:
        raise click.ClickException(f"the events were sent, but the CRM could not be read: {exc}") from None
    for module, rows in summary.items():
        click.echo(f"\n{module}: {len(rows)} records")
        for row in rows:
            click.echo(f"  {row}")
    sample.crm_to_moodle(settings, wait_seconds, click.echo)
    demo_intake.administration(settings, wait_seconds, click.echo)
    if not settings.suitecrm_url:
        # `crmsync run` seeded the sample registration catalogue before the CRM had the demo's course.
        from registration import crm as registration_crm

        made = registration_crm.seed_sample_catalogue(crm, registration_crm.SAMPLE_CATALOGUE)
        click.echo(f"\nRegistration: the sample programmes are now related to {made['courses']} Moodle course "
                   f"record(s) the demo brought to the CRM; the workers copy the catalogue to the registration "
                   f"pages within {settings.registration_catalogue_seconds} s")


COMMANDS = [worker, replay, backfill_progress, demo]
