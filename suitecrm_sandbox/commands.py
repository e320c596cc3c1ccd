"""`crmsync sandbox` and `crmsync sandbox-dump`."""

from __future__ import annotations

import json
import os
import secrets
import signal
import sys

import click
import requests

from crmsync.cli import load_config
from suitecrm_sandbox.faults import PRESETS, preset_settings

DEFAULT_CLIENT_ID = "crmsync-sandbox"


@click.command("sandbox")
@click.option("--bind", default=None, help="HOST:PORT (default SANDBOX_BIND).")
@click.option("--database", default=None, help="SQLite file, or :memory: (default SANDBOX_DATABASE).")
@click.option("--bare", is_flag=True, help="Serve SuiteCRM as recorded, without this product's package installed.")
@click.option("--package-version", default=None, metavar="VERSION",
              help="Serve an earlier release of the package (default: the version in crm_schema.yaml).")
@click.option("--client-id", default=DEFAULT_CLIENT_ID, show_default=True, help="OAuth2 client id.")
@click.option("--client-secret", default=None, envvar="SANDBOX_CLIENT_SECRET",
              help="OAuth2 client secret, or SANDBOX_CLIENT_SECRET (default: generated and printed).")
@click.option("--client-grants", default="client_credentials,password,refresh_token", show_default=True,
              help="Grants the client may use.")
@click.option("--username", default="admin", show_default=True, help="User for the password grant.")
@click.option("--password", default=None, envvar="SANDBOX_PASSWORD",
              help="Password for the password grant, or SANDBOX_PASSWORD (default: generated).")
@click.option("--token-ttl", type=int, default=3600, show_default=True, help="Access token lifetime, seconds.")
@click.option("--seed", type=int, default=None, help="Seed for reproducible fault injection.")
@click.option("--email1-patch-works", is_flag=True,
              help="With --bare: apply email1 in a PATCH of a Contact as the package's e-mail hook does "
                   "(SuiteCRM 7.14.6 alone ignores it once the Contact has an address).")
@click.option("--email1-patch-ignored", is_flag=True,
              help="Without --bare: ignore email1 in a PATCH of a Contact that has an address, as a CRM whose "
                   "package lacks the e-mail hook does.")
@click.option("--crm-receiver-url", default=None, metavar="URL",
              help="Deliver CRM users' Contact changes to this /webhooks/crm, as the package's outbox and "
                   "scheduler job do, signed with the secret in SANDBOX_CRM_SECRET (default: not configured, "
                   "nothing is recorded).")
@click.option("--preset", type=click.Choice(sorted(PRESETS)), default=None,
              help="Write speed of a real SuiteCRM 7.14.6 on 2 cores: search-index-on (13 writes/s one after "
                   "another, slower with parallel writers: 4 get about 5/s in total) or search-index-off "
                   "(43/s). Default: writes as fast as the sandbox goes.")
@click.pass_context
def sandbox(ctx, bind, database, bare, package_version, client_id, client_secret, client_grants, username, password, token_ttl, seed,
            email1_patch_works, email1_patch_ignored, crm_receiver_url, preset):
    """Run the bundled SuiteCRM 7.14 V8 API sandbox."""
    from sandbox_kit.server import serve
    from suitecrm_sandbox.app import create_app
    from suitecrm_sandbox.channel import ChannelSettings
    from suitecrm_sandbox.modules import package_schema
    from suitecrm_sandbox.state import Options, SandboxState
    from suitecrm_sandbox.store import Store
    from suitecrm_sandbox.tokens import Client, Clients

    settings = load_config(ctx)
    bind = bind or settings.sandbox_bind
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise click.BadParameter(f"expected HOST:PORT, got {bind!r}", param_hint="--bind")
    if bare and package_version:
        raise click.UsageError("--package-version names the package, which --bare leaves out")
    try:
        package = None if bare else package_schema(package_version)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--package-version") from error
    channel = None
    if crm_receiver_url:
        if bare:
            raise click.UsageError("--crm-receiver-url is the package's channel, which --bare leaves out")
        channel = ChannelSettings(_receiver_url(crm_receiver_url), _crm_secret(), site_url=f"http://{bind}")
    shown = "(as given)" if client_secret else None
    client_secret = client_secret or secrets.token_urlsafe(24)
    shown = shown or client_secret
    password = password or secrets.token_urlsafe(12)
    clients = Clients({client_id: Client(client_id, client_secret, frozenset(client_grants.split(",")))},
                      username, password)
    state = SandboxState(Store(database or settings.sandbox_database),
                         Options(bare=bare, package_version=package_version, token_ttl=token_ttl,
                                 email1_patch_ignored=(False if email1_patch_works else True if email1_patch_ignored
                                                       else None),
                                 channel=channel, field_mapping_file=settings.field_mapping_file or None),
                         clients)
    if preset is not None:
        state.faults.set_base(preset_settings(preset))
    if seed is not None:
        state.faults.configure({"seed": seed})
    served = f"with the Moodle sync package {package.package['version']}" if package else "bare"
    click.echo(f"SuiteCRM sandbox on http://{bind}  ({served})")
    if preset is not None:
        click.echo(f"  write speed: {preset} ({state.faults.settings.write_rate:g} writes/s one after another)")
    click.echo(f"  OAuth2 client id: {client_id}  secret: {shown}  user: {username}")
    if channel:
        click.echo(f"  CRM users' Contact changes go to {channel.receiver_url} (CRM id {state.channel.crm['id']}; "
                   "the client's own user is the API user, whose writes are not sent)")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    state.channel.start()
    serve(create_app(state), host, int(port))


def _receiver_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"expected an http(s) URL, got {url!r}", param_hint="--crm-receiver-url")
    return url


def _crm_secret() -> str:
    """The channel's signing secret, from the environment only: `ps` shows every user a process's arguments."""
    from standardwebhooks import Webhook

    secret = os.environ.get("SANDBOX_CRM_SECRET", "")
    if not secret.startswith("whsec_"):
        raise click.UsageError("--crm-receiver-url needs SANDBOX_CRM_SECRET: the whsec_ secret the receiver "
                               "accepts in CRM_WEBHOOK_SECRETS")
    try:
        Webhook(secret)
    except Exception:  # noqa: BLE001 - the library raises whatever base64 raised
        raise click.UsageError("SANDBOX_CRM_SECRET is not a whsec_ secret (whsec_ and base64)") from None
    return secret


@click.command("sandbox-dump")
@click.option("--url", default=None, help="Sandbox base URL (default http://SANDBOX_BIND).")
@click.option("--fields", default="", help="Comma-separated attributes to show (default: the non-empty ones).")
@click.argument("module")
@click.pass_context
def sandbox_dump(ctx, url, fields, module):
    """Print the records of MODULE held by a running sandbox, as JSON lines."""
    url = url or f"http://{load_config(ctx).sandbox_bind}"
    response = requests.get(f"{url}/__sandbox/records/{module}", timeout=10)
    if response.status_code != 200:
        raise click.ClickException(response.json().get("error", response.text))
    wanted = [f for f in fields.split(",") if f]
    for record in response.json():
        shown = {k: v for k, v in record.items() if (k in wanted or k == "id") if wanted} if wanted else {
            k: v for k, v in record.items() if v not in ("", "0", {}, None, False)}
        click.echo(json.dumps(shown, ensure_ascii=False))


COMMANDS = [sandbox, sandbox_dump]
