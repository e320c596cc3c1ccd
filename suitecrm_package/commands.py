"""`crmsync suitecrm-package`: build the SuiteCRM Module Loader zip."""

from pathlib import Path

import click


@click.command("suitecrm-package")
@click.option("--output", default="dist", show_default=True, help="Folder to write the zip into.")
@click.option("--field-mapping", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The site's own field mapping (FIELD_MAPPING_FILE), whose Contact fields the CRM sends to Moodle; "
                   "default: the shipped one.")
def suitecrm_package(output: str, field_mapping: str | None) -> None:
    """Build the SuiteCRM package (custom fields, modules, subpanels, CRM → Moodle outbox) from crm_schema.yaml."""
    from suitecrm_package.build import DEFAULT_MAPPING, build

    path = build(Path(output), mapping_file=Path(field_mapping) if field_mapping else DEFAULT_MAPPING)
    click.echo(f"wrote {path}: install it in SuiteCRM with Admin → Module Loader (docs/crm-admin-guide.md)")


COMMANDS = [suitecrm_package]
