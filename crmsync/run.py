"""`crmsync run` (what `make run` starts): the whole product on one machine, on embedded defaults.

Starts the receiver under gunicorn, one connector worker and, when no SuiteCRM is configured, the
bundled SuiteCRM sandbox (its package's channel sending CRM users' Contact edits to the receiver's
/webhooks/crm) and, when no Moodle is configured, the bundled Moodle web-service sandbox that the
connector writes those edits to; the registration pages (docs/registration.md; the sample catalogue
with the bundled sandbox); finds or starts Redis; creates the webhook secrets, the sandboxes'
credentials and the admin token on first use (kept under ./var/ so the Moodle and CRM settings stay
valid across restarts); prints what a Moodle admin must paste into the plugin; stops every process
cleanly on Ctrl-C.
"""

from __future__ import annotations

import base64
import ctypes
import fcntl
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import click
import redis
import requests

from crmsync.config import Config

STATE_DIR = Path("var")
SANDBOX_CLIENT_ID = "crmsync-sandbox"
SANDBOX_USERNAME = "admin"  # the sandbox's CRM user (password grant), whose edits its channel sends
# What `crmsync run` generates on first use and `crmsync demo` reads back.
SANDBOX_CLIENT_SECRET_FILE = STATE_DIR / "sandbox-client-secret"
SANDBOX_PASSWORD_FILE = STATE_DIR / "sandbox-password"
MOODLE_SANDBOX_TOKEN_FILE = STATE_DIR / "moodle-sandbox-token"
ADMIN_TOKEN_FILE = STATE_DIR / "admin-token"
STOP_TIMEOUT_SECONDS = 15


class RunError(click.ClickException):
    """Something `crmsync run` needs is missing; the message says what to do."""


def _stored_secret(path: Path, make) -> str:
    """Read a generated secret from var/, creating it (mode 600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    path.touch(mode=0o600)
    path.write_text(value + "\n")
    return value


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None
PR_SET_PDEATHSIG = 1


def _own_group_ignoring_sigint() -> None:
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if _LIBC is not None:
        # A group of its own escapes a kill of ours: should `crmsync run` be killed outright, the
        # kernel sends each child SIGTERM instead of leaving it running.
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass  # the whole group is gone already


def _new_webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError):
        return False


@dataclass
class Supervisor:
    """Child processes started by `crmsync run`, stopped together."""

    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        # Each child leads a process group of its own, so stop() reaches what it started in turn (gunicorn's
        # workers, RQ's scheduler) even after their parent died; Ctrl-C is ours to handle: children
        # ignore SIGINT (one arriving mid-import would print a traceback) and get SIGTERM from stop().
        process = subprocess.Popen(args, env=env, preexec_fn=_own_group_ignoring_sigint)
        self.children.append((name, process))
        return process

    def exited(self) -> tuple[str, int] | None:
        for name, process in self.children:
            if process.poll() is not None:
                return name, process.returncode
        return None

    def stop(self) -> None:
        """SIGTERM to every child's group, then SIGKILL to whatever of a group is left: nothing outlives us."""
        for _, process in reversed(self.children):
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for name, process in reversed(self.children):
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                click.echo(f"{name} did not stop in {STOP_TIMEOUT_SECONDS}s; killing it", err=True)
            # A leader that stopped may leave members behind (a gunicorn worker stuck in its quit handler).
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _ensure_redis(settings: Config, supervisor: Supervisor, env: dict[str, str]) -> str:
    if _redis_answers(settings.redis_url):
        return settings.redis_url
    if "REDIS_URL" in os.environ:
        raise RunError(f"Redis does not answer at REDIS_URL={settings.redis_url}; start it or fix REDIS_URL")
    server = shutil.which("redis-server")
    if server is None:
        raise RunError("no Redis found: install it (sudo apt-get install redis-server) or set REDIS_URL")
    port = urlparse(settings.redis_url).port or 6379
    click.echo(f"starting a local redis-server on 127.0.0.1:{port}")
    supervisor.start("redis", [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                               "--appendonly", "no", "--dir", str(STATE_DIR)], env)
    for _ in range(50):
        if _redis_answers(settings.redis_url):
            return settings.redis_url
        time.sleep(0.1)
    raise RunError(f"redis-server did not come up on port {port}")


def _wait_until_up(url: str, supervisor: Supervisor, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (dead := supervisor.exited()) is not None:
            raise RunError(f"{dead[0]} exited with status {dead[1]} while starting")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RunError(f"nothing answered at {url} within {timeout:.0f}s")


def _single_instance():
    """Hold var/run.lock for as long as we run: a second `crmsync run` refuses before touching anything."""
    lock = open(STATE_DIR / "run.lock", "w")  # noqa: SIM115 - held open for the life of the process
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise RunError(f"another `crmsync run` is already running from {STATE_DIR.resolve()}; "
                       "stop it (Ctrl-C in its terminal) before starting a new one") from None
    return lock


def run(settings: Config) -> int:
    STATE_DIR.mkdir(exist_ok=True)
    instance_lock = _single_instance()
    env = dict(os.environ)
    crmsync = [sys.executable, "-m", "crmsync"]
    supervisor = Supervisor()
    stopping = False

    def request_stop(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        env["REDIS_URL"] = _ensure_redis(settings, supervisor, env)
        secret = settings.webhook_secrets[0] if settings.webhook_secrets else _stored_secret(
            STATE_DIR / "webhook-secret", _new_webhook_secret)
        env.setdefault("WEBHOOK_SECRETS", secret)
        admin_token = settings.admin_api_tokens[0] if settings.admin_api_tokens else _stored_secret(
            ADMIN_TOKEN_FILE, lambda: secrets.token_urlsafe(32))
        env.setdefault("ADMIN_API_TOKENS", admin_token)
        crm_secret = settings.crm_webhook_secrets[0] if settings.crm_webhook_secrets else _stored_secret(
            STATE_DIR / "crm-webhook-secret", _new_webhook_secret)
        env.setdefault("CRM_WEBHOOK_SECRETS", crm_secret)
        receiver_url = f"http://{settings.bind}"

        crm_url = settings.suitecrm_url
        if not crm_url:
            sandbox_secret = _stored_secret(SANDBOX_CLIENT_SECRET_FILE, lambda: secrets.token_urlsafe(24))
            sandbox_password = _stored_secret(SANDBOX_PASSWORD_FILE, lambda: secrets.token_urlsafe(12))
            # Secrets go by environment, not argv: `ps` shows every user a process's arguments.
            supervisor.start("sandbox", [*crmsync, "sandbox", "--bind", settings.sandbox_bind,
                                         "--database", settings.sandbox_database, "--client-id", SANDBOX_CLIENT_ID,
                                         "--username", SANDBOX_USERNAME,
                                         "--crm-receiver-url", f"{receiver_url}/webhooks/crm"],
                             {**env, "SANDBOX_CLIENT_SECRET": sandbox_secret, "SANDBOX_PASSWORD": sandbox_password,
                              "SANDBOX_CRM_SECRET": crm_secret})
            crm_url = f"http://{settings.sandbox_bind}"
            # The connector logs in with client_credentials: the sandbox's API user, whose writes it never sends back.
            env.update(SUITECRM_URL=crm_url, SUITECRM_CLIENT_ID=SANDBOX_CLIENT_ID,
                       SUITECRM_CLIENT_SECRET=sandbox_secret, SUITECRM_USERNAME="", SUITECRM_PASSWORD="")
            _wait_until_up(f"{crm_url}/Api/V8/meta/modules", supervisor)

        moodle_url, moodle_token = settings.moodle_url, settings.moodle_token
        if not moodle_url:
            moodle_token = _stored_secret(MOODLE_SANDBOX_TOKEN_FILE, lambda: secrets.token_hex(16))
            supervisor.start("moodle-sandbox", [*crmsync, "moodle-sandbox", "--bind", settings.moodle_sandbox_bind,
                                                "--database", settings.moodle_sandbox_database, "--site", "recorded"],
                             {**env, "MOODLE_SANDBOX_TOKEN": moodle_token})
            moodle_url = f"http://{settings.moodle_sandbox_bind}"
            env.update(MOODLE_URL=moodle_url, MOODLE_TOKEN=moodle_token)
            _wait_until_up(f"{moodle_url}/webservice/rest/server.php", supervisor)

        if subprocess.run([*crmsync, "migrate"], env=env).returncode != 0:
            raise RunError("database migration failed (see the message above); check DATABASE_URL")
        supervisor.start("receiver", [*crmsync, "serve"], env)
        _wait_until_up(f"{receiver_url}/healthz", supervisor)
        supervisor.start("worker", [*crmsync, "worker"], env)
        env.setdefault("REGISTRATION_SECRET_KEY", settings.registration_secret_key or _stored_secret(
            STATE_DIR / "registration-secret-key", lambda: secrets.token_urlsafe(32)))
        # The sample catalogue into the bundled sandbox, and from it into the service (registration/crm.py), so
        # that staff's decisions there reach the service and Moodle; a real CRM's catalogue is pulled from it.
        if not settings.suitecrm_url and subprocess.run([*crmsync, "registration", "seed-catalogue"],
                                                        env=env).returncode != 0:
            raise RunError("the sample registration catalogue could not be loaded (see the message above)")
        supervisor.start("registration", [*crmsync, "registration", "serve"], env)
        registration_url = settings.registration_public_url or f"http://{settings.registration_bind}"
        _wait_until_up(f"http://{settings.registration_bind}/static/style.css", supervisor)

        click.echo("\n".join([
            "",
            "Moodle ⇄ SuiteCRM sync is running. Paste into Moodle (Site administration → Plugins →",
            "Local plugins → CRM sync):",
            f"  Receiver URL:   {receiver_url}/webhooks/moodle",
            f"  Signing secret: {secret}",
            "",
            f"Admin API:   {receiver_url}/api/v1/stats  (Authorization: Bearer {admin_token})",
            f"SuiteCRM:    {crm_url}" + ("  (bundled sandbox; `crmsync sandbox-dump` shows its records; CRM user "
                                          f"{SANDBOX_USERNAME}, password in {SANDBOX_PASSWORD_FILE})"
                                          if not settings.suitecrm_url else ""),
            f"CRM changes: {receiver_url}/webhooks/crm  secret: {crm_secret}"
            + ("  (the sandbox's channel sends to it)" if not settings.suitecrm_url else
               "  (the package's receiver_url and secret)"),
            f"Moodle:      {moodle_url}" + (f"  token: {moodle_token}  (bundled web-service sandbox, the recorded "
                                            "Moodle 4.3 site; the connector writes CRM edits to it)"
                                            if not settings.moodle_url else ""),
            f"Registration: {registration_url}  (sample catalogue; staff dashboard {registration_url}/staff/ with "
            "the admin token)",
            f"Sample data: {_command_path()} demo      Stop: Ctrl-C",
            "",
        ]))
        while not stopping:
            if (dead := supervisor.exited()) is not None:
                click.echo(f"{dead[0]} exited with status {dead[1]}; stopping everything", err=True)
                return 1
            time.sleep(0.5)
        click.echo("stopping…")
        return 0
    finally:
        supervisor.stop()
        instance_lock.close()


def _command_path() -> str:
    """How to call `crmsync` from another terminal: by name when it is on PATH, else by its path."""
    if shutil.which("crmsync"):
        return "crmsync"
    return str(Path(sys.executable).parent / "crmsync")
