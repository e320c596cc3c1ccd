"""`crmsync registration …`: the registration service's commands."""

from __future__ import annotations

import click

from registration.crm_commands import pull_catalogue


@click.group("registration")
def registration() -> None:
    """The registration service (docs/registration.md)."""


registration.add_command(pull_catalogue)

COMMANDS = [registration]
