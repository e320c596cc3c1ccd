"""`crmsync registration pull-catalogue`: the CRM's registration catalogue into the service, now."""

from __future__ import annotations

import click

from crmsync.cli import load_config


@click.command("pull-catalogue")
@click.pass_context
def pull_catalogue(ctx: click.Context) -> None:
    """Copy the Registration Projects and Programmes (with their Moodle Courses) from the CRM to the
    registration service, and show each programme's status on it (the workers do it every
    REGISTRATION_CATALOGUE_SECONDS)."""
    from crmsync import db
    from registration import jobs

    settings = load_config(ctx)
    db.upgrade(settings.database_url)
    projects, programmes = jobs.pull_catalogue(settings)
    click.echo(f"Catalogue pulled from the CRM: {projects} projects, {programmes} programmes.")
