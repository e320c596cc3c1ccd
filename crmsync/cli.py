"""The `crmsync` command: one entry point, sub-commands contributed by each component."""

from __future__ import annotations

import sys

import click

from crmsync import config as configuration
from crmsync.config import ConfigError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--env-file", default=".env", show_default=True, help="Optional file of VAR=value settings.")
@click.pass_context
def cli(ctx: click.Context, env_file: str) -> None:
    """Moodle ⇄ SuiteCRM sync: receiver, connector workers, SuiteCRM sandbox and admin tools."""
    ctx.obj = {"env_file": env_file}


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
    db.upgrade(settings.database_url)
    click.echo("database schema is up to date")


@cli.command("run")
@click.pass_context
def run_everything(ctx: click.Context) -> None:
    """Run receiver, worker and (without SUITECRM_URL) the SuiteCRM sandbox until Ctrl-C."""
    from crmsync.run import run

    ctx.exit(run(load_config(ctx)))


def _register_components() -> None:
    from crm_connector.commands import COMMANDS as connector_commands
    from receiver.commands import COMMANDS as receiver_commands
    from suitecrm_package.commands import COMMANDS as package_commands
    from suitecrm_sandbox.commands import COMMANDS as sandbox_commands

    for command in (*receiver_commands, *connector_commands, *sandbox_commands, *package_commands):
        cli.add_command(command)


_register_components()


def main() -> None:
    try:
        cli(prog_name="crmsync")
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
