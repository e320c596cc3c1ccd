"""`crmsync registration …`: serve the pages, send the staff digests, load a catalogue file."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click

from crmsync.cli import load_config

SAMPLE_CATALOGUE = Path(__file__).with_name("sample_catalogue.yaml")


@click.group("registration")
def registration() -> None:
    """The registration service (docs/registration.md)."""


@registration.command("serve")
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Serve the registration pages under gunicorn (REGISTRATION_BIND, WEB_CONCURRENCY); migrates first."""
    from crmsync import db
    from registration import forms, pdf

    settings = load_config(ctx)
    db.upgrade(settings.database_url)
    pdf.font_files(settings.registration_font_dir)  # fail at start, not at a person's first PDF
    forms.load("default", settings.registration_declarations_dir)
    if not settings.registration_secret_key:
        click.echo("REGISTRATION_SECRET_KEY is not set: using a new random one (sessions end on a restart)", err=True)
        os.environ["REGISTRATION_SECRET_KEY"] = secrets.token_urlsafe(32)
    args = ["gunicorn", "--config", "python:registration.gunicorn_config", "--bind", settings.registration_bind,
            "--workers", str(settings.web_concurrency), "registration.wsgi:app"]
    os.execvp(sys.executable, [sys.executable, "-m", *args])


@registration.command("send-digests")
@click.pass_context
def send_digests(ctx: click.Context) -> None:
    """Send each project's staff digest of the last complete period, if not sent yet (also run by workers)."""
    from registration import digest

    settings = load_config(ctx)
    settings.require("smtp_host", "smtp_from")
    outcome = digest.send_digests(settings)
    for project, what in sorted(outcome.items()):
        click.echo(f"project {project}: {what}")
    if not outcome:
        click.echo("no digest due")
    if any(what.startswith("failed") for what in outcome.values()):
        raise SystemExit(1)


@registration.command("load-catalogue")
@click.argument("path", type=click.Path(exists=True, dir_okay=False), default=str(SAMPLE_CATALOGUE))
@click.pass_context
def load_catalogue(ctx: click.Context, path: str) -> None:
    """Apply a catalogue YAML file (the shape of registration/sample_catalogue.yaml, the default) to the
    local catalogue: to try the pages without a CRM. A CRM's catalogue replaces it at its next pull."""
    from crmsync import db
    from registration import catalogue

    settings = load_config(ctx)
    db.upgrade(settings.database_url)
    with db.session_scope(settings.database_url) as session:
        catalogue.load_sample(session, path)
    click.echo(f"catalogue loaded from {path}")


COMMANDS = [registration]
