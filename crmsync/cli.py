"""The `crmsync` command: one entry point, sub-commands contributed by each component."""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

import click
from click.core import ParameterSource
from sqlalchemy.exc import OperationalError

from crmsync import config as configuration
from crmsync.config import ConfigError

COMMAND_GROUP = "crmsync.commands"  # each part of the product contributes its sub-commands here


class ComponentGroup(click.Group):
    """The parts of the product name their commands in pyproject.toml; the core imports none of them. They
    are loaded when a command is looked up, not when this module is imported: a part's commands module
    imports load_config from here."""

    _loaded = False

    def _load_components(self) -> None:
        if not self._loaded:
            self._loaded = True
            for entry in entry_points(group=COMMAND_GROUP):
                for command in entry.load():
                    self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_components()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load_components()
        return super().get_command(ctx, cmd_name)


@click.group(cls=ComponentGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--env-file", default=".env", show_default=True,
              help="File of VAR=value settings (./.env is optional; a file named here must exist).")
@click.pass_context
def cli(ctx: click.Context, env_file: str) -> None:
    """Moodle ⇄ SuiteCRM sync: receiver, connector workers, SuiteCRM sandbox and admin tools."""
    path = Path(env_file)
    if ctx.get_parameter_source("env_file") != ParameterSource.DEFAULT and not path.is_file():
        raise click.BadParameter(f"no such file: {env_file}", param_hint="--env-file")
    # Every process this one starts (gunicorn's workers, the worker's jobs, `crmsync run`'s children)
    # reads the same file.
    os.environ[configuration.ENV_FILE_VARIABLE] = str(path.resolve())
    ctx.obj = {"env_file": str(path)}


def load_config(ctx: click.Context) -> configuration.Config:
    """Settings for a sub-command; a bad variable ends the command with its name and the reason."""
    try:
        return configuration.load(env_file=ctx.find_root().obj["env_file"])
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


@cli.command("config")
@click.option("--markdown", is_flag=True, help="Print the settings table of docs/configuration.md.")
@click.pass_context
def show_config(ctx: click.Context, markdown: bool) -> None:
    """Validate the configuration and print it (secrets masked)."""
    if markdown:
        click.echo(configuration.markdown_table())
        return
    for name, value in load_config(ctx).redacted().items():
        click.echo(f"{name}={value}")


@cli.command("migrate")
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or upgrade the database schema (safe to run repeatedly)."""
    from crmsync import db

    settings = load_config(ctx)
    before, after = db.upgrade(settings.database_url)
    if before == after:
        click.echo(f"database schema is up to date (revision {after})")
    else:
        click.echo(f"database schema upgraded from {before or 'an empty database'} to revision {after}")


@cli.command("purge")
@click.pass_context
def purge(ctx: click.Context) -> None:
    """Delete finished events older than RETENTION_DAYS (dead letters: DEAD_LETTER_RETENTION_DAYS)."""
    from crmsync import db, retention

    settings = load_config(ctx)
    with db.session_scope(settings.database_url) as session:
        counts = retention.purge(session, settings)
    click.echo(", ".join(f"{count} {kind}" for kind, count in counts.items()) + " purged")


@cli.command("erase")
@click.option("--site", "site_id", required=True, help="The Moodle site id (as in the messages' site.id).")
@click.option("--user", "user_id", required=True, type=click.IntRange(min=1), help="The Moodle user id.")
@click.pass_context
def erase(ctx: click.Context, site_id: str, user_id: int) -> None:
    """Erase one Moodle user's messages from the inbox (a data-protection erasure request)."""
    from crmsync import db, retention

    settings = load_config(ctx)
    with db.session_scope(settings.database_url) as session:
        counts = retention.erase_user(session, site_id, user_id)
    click.echo(", ".join(f"{count} {kind}" for kind, count in counts.items()))


@cli.command("run")
@click.pass_context
def run_everything(ctx: click.Context) -> None:
    """Run receiver, worker and (without SUITECRM_URL) the SuiteCRM sandbox until Ctrl-C."""
    from crmsync.run import run

    ctx.exit(run(load_config(ctx)))


def main() -> None:
    try:
        cli(prog_name="crmsync")
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    except OperationalError as exc:
        # One line an operator can act on, not a driver's traceback (no statement values: hide_parameters).
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else exc.__class__.__name__
        click.echo(f"cannot use the database ({configuration.load().redacted()['DATABASE_URL']}): {reason}",
                   err=True)
        sys.exit(1)
