"""Sub-commands of `crmsync` that this component contributes."""

COMMANDS: list = []
