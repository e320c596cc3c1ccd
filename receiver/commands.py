"""Sub-commands of `crmsync` that the receiver contributes: serve and sweep."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from pathlib import Path

import click

from crmsync import db
from crmsync.cli import load_config


@click.command("serve")
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Run the receiver under gunicorn (BIND, WEB_CONCURRENCY); migrates the database first."""
    settings = load_config(ctx)
    settings.require("webhook_secrets")
    host, _, port = settings.bind.rpartition(":")
    if _listening(host or "127.0.0.1", int(port)):
        raise click.ClickException(f"something already listens on {settings.bind} (another receiver?); "
                                   "stop it or set BIND, nothing was changed")
    db.upgrade(settings.database_url)
    metrics_dir = Path("var") / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # samples of a previous run must not add up with ours
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    args = ["gunicorn", "--config", "python:receiver.gunicorn_config", "--bind", settings.bind,
            "--workers", str(settings.web_concurrency), "receiver.wsgi:app"]
    os.execvp(sys.executable, [sys.executable, "-m", *args])


def _listening(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host if host not in ("0.0.0.0", "") else "127.0.0.1", port)) == 0


@click.command("sweep")
@click.option("--every", type=float, default=None, help="Repeat every N seconds instead of sweeping once.")
@click.pass_context
def sweep(ctx: click.Context, every: float | None) -> None:
    """Enqueue events left pending (Redis was down) or whose job was lost (Redis restarted)."""
    from redis import Redis

    from crmsync import queue

    settings = load_config(ctx)
    redis_conn = Redis.from_url(settings.redis_url)
    while True:
        with db.session_scope(settings.database_url) as session:
            count = queue.sweep(session, redis_conn, settings)
        click.echo(f"re-enqueued {count} events")
        if every is None:
            return
        time.sleep(every)


@click.command("status")
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show events per status, the queue depth, the oldest event not yet applied, what waits for a parent
    and the last dead letters."""
    from redis import Redis
    from rq import Queue
    from sqlalchemy import func, select

    from crmsync import pause
    from crmsync.models import EventStatus, InboxEvent

    settings = load_config(ctx)
    with db.session_scope(settings.database_url) as session:
        counts = dict(session.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all())
        oldest = session.scalar(select(func.min(InboxEvent.received_at)).where(
            InboxEvent.status.in_([EventStatus.PENDING, EventStatus.QUEUED, EventStatus.WAITING])))
        parents = session.execute(select(InboxEvent.site_id, InboxEvent.waiting_for, func.count())
                                  .where(InboxEvent.status == EventStatus.WAITING)
                                  .group_by(InboxEvent.site_id, InboxEvent.waiting_for)
                                  .order_by(func.count().desc()).limit(5)).all()
        dead = session.execute(select(InboxEvent.id, InboxEvent.type, InboxEvent.last_error)
                               .where(InboxEvent.status == EventStatus.FAILED)
                               .order_by(InboxEvent.updated_at.desc()).limit(5)).all()
    for name in EventStatus.ALL:
        click.echo(f"{name:>8}: {counts.get(name, 0)}")
    try:
        redis_conn = Redis.from_url(settings.redis_url)
        depth = Queue(settings.queue_name, connection=redis_conn).count
        click.echo(f"queue depth: {depth}")
        why = pause.outage(redis_conn)
        click.echo(f"connector: {'paused, SuiteCRM unavailable: ' + why if why else 'running'}")
        why = pause.outage(redis_conn, pause.MOODLE)
        click.echo(f"writes to Moodle: {'paused, Moodle unavailable: ' + why if why else 'running'}")
    except Exception as exc:  # noqa: BLE001 - status must work while Redis is down
        click.echo(f"queue depth: unknown (Redis unavailable: {exc.__class__.__name__})")
    click.echo(f"oldest not yet applied: {oldest.isoformat() if oldest else 'none'}")
    for site_id, parent, count in parents:
        click.echo(f"waiting for {parent} of site {site_id} to reach the CRM: {count}")
    for event_id, event_type, error in dead:
        click.echo(f"dead letter {event_id} ({event_type}): {error}")
    if dead:
        click.echo("replay them with: crmsync replay --status failed")


COMMANDS = [serve, sweep, status]
