"""`crmsync moodle-sandbox`."""

from __future__ import annotations

import secrets
import signal
import sys

import click

from crmsync.cli import load_config


@click.command("moodle-sandbox")
@click.option("--bind", default=None, help="HOST:PORT to listen on (default MOODLE_SANDBOX_BIND).")
@click.option("--database", default=":memory:", show_default=True,
              help="SQLite file (kept across restarts), or :memory:.")
@click.option("--site", type=click.Choice(["recorded", "empty"]), default="recorded", show_default=True,
              help="Data a new database starts with: the recorded Moodle 4.3 site, or only admin and guest.")
@click.option("--token", default=None, envvar="MOODLE_SANDBOX_TOKEN",
              help="Web-service token of the crm_sync service, or MOODLE_SANDBOX_TOKEN (default: generated and printed).")
@click.option("--seed", type=int, default=None, help="Seed for reproducible fault injection.")
@click.pass_context
def moodle_sandbox(ctx, bind, database, site, token, seed):
    """Run the bundled Moodle 4.3 web-service sandbox (REST, /webservice/rest/server.php)."""
    from moodle_sandbox.app import create_app
    from moodle_sandbox.state import SandboxState, empty_site, recorded_site
    from moodle_sandbox.store import Store
    from sandbox_kit.server import serve

    bind = bind or load_config(ctx).moodle_sandbox_bind
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, got {bind!r}", param_hint="--bind")
    state = SandboxState(Store(database))
    if state.store.empty():
        state.seed(recorded_site() if site == "recorded" else empty_site())
    shown = "(as given)" if token else None
    token = state.issue_token("crm_sync", 2, token or secrets.token_hex(16))
    if seed is not None:
        state.faults.configure({"seed": seed})
    click.echo(f"Moodle web-service sandbox on http://{bind}/webservice/rest/server.php")
    click.echo(f"  crm_sync token (user admin): {shown or token}")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(create_app(state), host, int(port))


COMMANDS = [moodle_sandbox]
