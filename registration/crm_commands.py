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


@click.command("seed-catalogue")
@click.argument("path", type=click.Path(exists=True, dir_okay=False), required=False)
@click.pass_context
def seed_catalogue(ctx: click.Context, path: str | None) -> None:
    """Create a catalogue file's projects and programmes in the CRM at SUITECRM_URL (default: the sample
    catalogue, which `make run` puts into the bundled sandbox), then pull the catalogue from it. Running it
    again changes nothing but relating the programmes' Moodle courses the CRM did not have before."""
    from crmsync import db
    from registration import crm, jobs

    settings = load_config(ctx)
    db.upgrade(settings.database_url)
    made = crm.seed_sample_catalogue(jobs.crm_client(settings), path or crm.SAMPLE_CATALOGUE)
    projects, programmes = jobs.pull_catalogue(settings)
    click.echo(f"Made in the CRM: {made['projects']} projects, {made['programmes']} programmes, {made['courses']} "
               f"course links. Catalogue pulled: {projects} projects, {programmes} programmes.")
