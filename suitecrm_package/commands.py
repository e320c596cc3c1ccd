"""`crmsync suitecrm-package`: build the SuiteCRM Module Loader zip."""

from pathlib import Path

import click


@click.command("suitecrm-package")
@click.option("--output", default="dist", show_default=True, help="Folder to write the zip into.")
def suitecrm_package(output: str) -> None:
    """Build the SuiteCRM package (custom fields, modules, subpanels, logic hook) from crm_schema.yaml."""
    from suitecrm_package.build import build

    path = build(Path(output))
    click.echo(f"wrote {path}: install it in SuiteCRM with Admin → Module Loader (docs/crm-admin-guide.md)")


COMMANDS = [suitecrm_package]
