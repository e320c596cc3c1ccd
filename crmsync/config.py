"""The one place configuration is read.

Every setting is declared once in ``SETTINGS`` with its type, default and meaning.  ``load()``
reads them from the process environment (plus an optional ``.env`` file), converts and validates
each one, and fails at start-up with a message that names the bad variable.  ``docs/configuration.md``
holds the same table; ``crmsync config --markdown`` prints it and a test keeps the two in step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dotenv import dotenv_values


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def _str(value: str) -> str:
    return value


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"expected a whole number, got {value!r}") from None


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value == "":
            return value
        parsed = urlparse(value)
        if parsed.scheme not in schemes or not (parsed.netloc or parsed.path):
            raise ValueError(f"expected a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return value.rstrip("/") if parsed.scheme in {"http", "https"} else value

    return parse


def _database_url(value: str) -> str:
    if not re.match(r"^(sqlite|postgresql|mysql|mariadb)(\+\w+)?://", value):
        raise ValueError("expected an SQLAlchemy URL: sqlite:///path, postgresql+psycopg://… or mysql+pymysql://…")
    return value


def _secrets(value: str) -> tuple[str, ...]:
    secrets = _list(value)
    for secret in secrets:
        if not secret.startswith("whsec_") or len(secret) < 30:
            raise ValueError("each secret must be a Standard Webhooks secret: 'whsec_' followed by base64 (24+ bytes)")
    return secrets


def _role_ids(value: str) -> dict[str, int]:
    """`shortname=id,…`: the Moodle role id of each role a CRM user can give (mdl_role_list)."""
    roles: dict[str, int] = {}
    for part in _list(value):
        name, _, number = part.partition("=")
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name.strip()) or not number.strip().isdigit():
            raise ValueError(f"expected shortname=role id pairs separated by commas, got {part!r}")
        roles[name.strip()] = int(number)
    return roles


def _auth_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
        raise ValueError(f"expected a Moodle authentication plugin name (manual, oauth2, saml2, ldap…), got {value!r}")
    return value


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    return parse


def _positive(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def check(value: str) -> Any:
        parsed = parse(value)
        if parsed <= 0:
            raise ValueError(f"must be greater than zero, got {value!r}")
        return parsed

    return check


def _non_negative(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def check(value: str) -> Any:
        parsed = parse(value)
        if parsed < 0:
            raise ValueError(f"must not be negative, got {value!r}")
        return parsed

    return check


def _cron(value: str) -> str:
    """A five-field cron expression (minute hour day month weekday), or empty."""
    from croniter import croniter

    value = " ".join(value.split())
    if value and (len(value.split()) != 5 or not croniter.is_valid(value)):
        raise ValueError(f"expected a cron expression of five fields such as '0 2 * * *', got {value!r}")
    return value


def _timezone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected an IANA time zone such as 'Europe/Paris' or 'UTC', got {value!r}") from None
    return value


def _addresses(value: str) -> tuple[str, ...]:
    addresses = _list(value)
    for address in addresses:
        if not re.fullmatch(r"[^@\s<>,]+@[^@\s<>,]+", address):
            raise ValueError(f"expected e-mail addresses separated by commas, got {address!r}")
    return addresses


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    default: str
    help: str
    group: str
    secret: bool = False

    @property
    def attribute(self) -> str:
        return self.name.lower()


SETTINGS: tuple[Setting, ...] = (
    # --- storage and queue -------------------------------------------------------------------------
    Setting("DATABASE_URL", _database_url, "sqlite:///var/crmsync.db",
            "SQLAlchemy URL of the receiver/connector database (SQLite file, PostgreSQL or MySQL/MariaDB).",
            "Storage"),
    Setting("REDIS_URL", _url("redis", "rediss", "unix"), "redis://127.0.0.1:6379/0",
            "Redis (or Valkey) holding the RQ queues, locks and the shared CRM token.", "Storage"),
    Setting("QUEUE_NAME", _str, "crmsync", "Name of the RQ queue events are enqueued on.", "Storage"),
    Setting("RETENTION_DAYS", _positive(_int), "30",
            "Days an applied or skipped event (with its personal data) stays in the inbox; workers purge "
            "older ones every hour, `crmsync purge` does it now.", "Storage"),
    Setting("DEAD_LETTER_RETENTION_DAYS", _positive(_int), "90",
            "Days a dead letter stays in the inbox to be replayed before it is purged.", "Storage"),
    # --- receiver ----------------------------------------------------------------------------------
    Setting("WEBHOOK_SECRETS", _secrets, "",
            "Comma-separated `whsec_…` secrets accepted from Moodle on /webhooks/moodle; list the new one first "
            "while rotating. Required by `crmsync serve`.", "Receiver", secret=True),
    Setting("CRM_WEBHOOK_SECRETS", _secrets, "",
            "Comma-separated `whsec_…` secrets accepted from SuiteCRM on /webhooks/crm (the package's "
            "own, never one of WEBHOOK_SECRETS); list the new one first while rotating. Empty: "
            "/webhooks/crm answers 503 and the CRM keeps its changes until it is set.", "Receiver", secret=True),
    Setting("MAX_BODY_BYTES", _positive(_int), "1048576",
            "Largest webhook body accepted (413 beyond it).", "Receiver"),
    Setting("MAX_BATCH_EVENTS", _positive(_int), "500",
            "Largest number of events in one batch POST.", "Receiver"),
    Setting("ADMIN_API_TOKENS", _list, "",
            "Comma-separated bearer tokens for the admin API under /api/v1 (empty: admin API refuses all).",
            "Receiver", secret=True),
    Setting("TRUSTED_PROXIES", _non_negative(_int), "0",
            "Number of reverse proxies (nginx) in front of the receiver whose X-Forwarded-* headers are trusted.",
            "Receiver"),
    Setting("BIND", _str, "127.0.0.1:8080", "Address gunicorn listens on for `crmsync serve`.", "Receiver"),
    Setting("WEB_CONCURRENCY", _positive(_int), "2", "Number of gunicorn worker processes.", "Receiver"),
    # --- connector ---------------------------------------------------------------------------------
    Setting("SUITECRM_URL", _url("http", "https"), "",
            "Base URL of SuiteCRM (e.g. https://crm.example.org, or …/legacy for SuiteCRM 8). "
            "Empty: `make run` starts the bundled sandbox and uses it.", "Connector"),
    Setting("SUITECRM_CLIENT_ID", _str, "", "OAuth2 client id created in SuiteCRM's OAuth2 Clients screen.",
            "Connector"),
    Setting("SUITECRM_CLIENT_SECRET", _str, "", "OAuth2 client secret.", "Connector", secret=True),
    Setting("SUITECRM_USERNAME", _str, "",
            "API user for the password grant; empty uses the client_credentials grant.", "Connector"),
    Setting("SUITECRM_PASSWORD", _str, "", "Password of SUITECRM_USERNAME.", "Connector", secret=True),
    Setting("SUITECRM_TIMEOUT_SECONDS", _positive(_float), "10", "Timeout of one call to SuiteCRM.", "Connector"),
    Setting("CRM_MAX_CONCURRENT_WRITES", _non_negative(_int), "1",
            "Most writes all workers together have at the SuiteCRM at once (a Redis semaphore per SUITECRM_URL; 0: "
            "no limit). SuiteCRM's search index serialises writes and parallel writers slow it down (1 suits its "
            "defaults; docs/crm-admin-guide.md, \"The search index and write speed\").", "Connector"),
    Setting("MOODLE_URL", _url("http", "https"), "",
            "Base URL of the Moodle that CRM users' profile edits are written to (e.g. https://moodle.example.org), "
            "through the plugin's *CRM sync* web service (docs/moodle-admin-guide.md). Empty: CRM changes are "
            "stored and wait, the connector says so in `crmsync status`.", "Connector"),
    Setting("MOODLE_TOKEN", _str, "",
            "Web-service token of that Moodle's CRM sync user (sent in request bodies only, never logged).",
            "Connector", secret=True),
    Setting("MOODLE_SITE_ID", _str, "",
            "The site id of the Moodle at MOODLE_URL, as its messages carry it (`site_id` of its events in "
            "`GET /api/v1/events`): only Contacts linked to a user of this site are written to it. Empty: the "
            "one Moodle site whose messages the connector has applied (two or more: set it).", "Connector"),
    Setting("MOODLE_TIMEOUT_SECONDS", _positive(_float), "10", "Timeout of one call to Moodle.", "Connector"),
    Setting("MOODLE_PAUSE_SECONDS", _positive(_int), "30",
            "As CRM_PAUSE_SECONDS, for Moodle: CRM → Moodle work pauses while Moodle is unreachable or refuses "
            "the token; Moodle → CRM work goes on.", "Connector"),
    Setting("MOODLE_LATE_WRITE_SECONDS", _positive(_int), "120",
            "Longest time Moodle may take to carry out a call whose answer timed out; the learner is written "
            "to Moodle again after it.", "Connector"),
    Setting("ROLE_IDS", _role_ids, "student=5,teacher=4,editingteacher=3",
            "Moodle role id of each role a CRM user gives on an enrolment (`shortname=id`, comma-separated; "
            "Moodle's defaults). An enrolment with a role not listed fails with that reason on the record.",
            "Connector"),
    Setting("MOODLE_NEW_USER_AUTH", _auth_name, "manual",
            "Authentication of the Moodle account created for a Contact enrolled from the CRM who has none "
            "(username: the e-mail address, lower-cased): `manual` makes Moodle create a password and e-mail "
            "the learner a link to it; any other name (e.g. `oauth2`, `saml2`, the site's single sign-on) "
            "creates the account with that method and no password.", "Connector"),
    Setting("CONTACT_MATCH_BY_EMAIL", _bool, "false",
            "On a learner's first sync, link to an existing Contact with the same e-mail instead of creating one: "
            "one with no Moodle identity becomes the learner's; another Moodle site's learner's is only linked to "
            "(the learner's records attach to it; only that site writes the Contact).",
            "Connector"),
    Setting("USER_DELETION_POLICY", _choice("mark", "anonymise", "delete"), "mark",
            "What a Moodle user deletion does to the Contact.", "Connector"),
    Setting("CONSENT_WITHDRAWAL_POLICY", _choice("mark", "anonymise", "delete"), "mark",
            "What withdrawing a compulsory (not optional) Moodle policy does to the Contact: `mark` only records "
            "it; `anonymise` and `delete` as `USER_DELETION_POLICY`. Withdrawing an optional policy only records it.",
            "Connector"),
    Setting("MARKETING_CONSENT_POLICY", _str, "",
            "The Moodle policy (tool_policy) whose answer the Contact's *Marketing consent* fields show, the ones "
            "CRM users filter campaigns by: its policy id or its exact name. Empty: those fields are not "
            "written. Every policy's answers are listed under the Contact's Moodle Consents either way.",
            "Connector"),
    Setting("FIELD_MAPPING_FILE", _str, "",
            "YAML file overriding the shipped field mapping, read in both directions, with each field's owner "
            "(docs/crm-mapping.md; empty: the defaults).", "Connector"),
    Setting("JOB_MAX_RETRIES", _non_negative(_int), "8", "Retries of a job that failed transiently.", "Connector"),
    Setting("JOB_RETRY_BASE_SECONDS", _positive(_float), "2",
            "First retry delay; doubles each attempt, with jitter.", "Connector"),
    Setting("JOB_RETRY_MAX_SECONDS", _positive(_float), "600", "Cap on one retry delay.", "Connector"),
    Setting("SUBJECT_LEASE_SECONDS", _positive(_int), "60",
            "How long a worker's claim on one subject lasts without renewal; it renews it before every CRM "
            "write, so this only bounds how long a killed worker's subjects wait.", "Connector"),
    Setting("CRM_LATE_WRITE_SECONDS", _positive(_int), "120",
            "Longest time SuiteCRM may take to carry out a request whose answer timed out (PHP's "
            "max_execution_time and then some); the subject is written again after it.", "Connector"),
    Setting("CRM_PAUSE_SECONDS", _positive(_int), "30",
            "When SuiteCRM is unreachable or refuses the credentials, work pauses this long before the next "
            "try; events keep their retries and drain once it answers.", "Connector"),
    Setting("SWEEP_GRACE_SECONDS", _positive(_int), "10",
            "How long an event may wait for the receiver or a job before the sweeper hands it out again.",
            "Connector"),
    Setting("SWEEP_INTERVAL_SECONDS", _positive(_int), "30",
            "How often a worker re-enqueues events left pending (e.g. while Redis was down).", "Connector"),
    Setting("WORKER_THREADS", _positive(_int), "4",
            "Jobs one `crmsync worker` process runs at once, each in a work loop of its own (a job mostly waits "
            "for SuiteCRM or Moodle to answer: 4 apply more than twice as many first syncs as 1; "
            "docs/performance.md). 1: one job at a time.", "Connector"),
    Setting("WORKER_METRICS_PORT", _non_negative(_int), "0",
            "Port on which `crmsync worker` serves Prometheus metrics and its health check (0: off).",
            "Connector"),
    Setting("WORKER_METRICS_ADDRESS", _str, "127.0.0.1",
            "Address the worker's metrics server binds; `0.0.0.0` to let a Prometheus on another host scrape it.",
            "Connector"),
    # --- reconciliation ----------------------------------------------------------------------------
    Setting("RECONCILE_MOODLE_RPS", _positive(_float), "5",
            "Most requests per second a reconciliation makes to Moodle (export_state, resend), so business "
            "hours are not slowed.", "Reconciliation"),
    Setting("RECONCILE_CRM_RPS", _positive(_float), "5",
            "Most requests per second a reconciliation makes to SuiteCRM (its paged reads).", "Reconciliation"),
    Setting("RECONCILE_PAGE_SIZE", _positive(_int), "200",
            "Records a reconciliation reads per request, from Moodle (at most 1000) and from SuiteCRM; the "
            "checkpoint an interrupted run goes on from is written after each page.", "Reconciliation"),
    Setting("RECONCILE_LEASE_SECONDS", _positive(_int), "600",
            "How long the one running reconciliation holds its lease without renewing it (it renews it after "
            "every page); a crashed run's lease runs out after this and the next run goes on from its checkpoint.",
            "Reconciliation"),
    Setting("RECONCILE_EXTRA_RECORDS", _choice("report", "mark"), "report",
            "What `--repair` does to a CRM record whose Moodle entity is gone: `report` lists it and changes "
            "nothing; `mark` has the plugin send the entity's deletion, applied as the connector's deletion "
            "policies say (USER_DELETION_POLICY: a Contact is marked deleted by default; an enrolment ends).",
            "Reconciliation"),
    Setting("RECONCILE_SCHEDULE", _cron, "",
            "When workers start a reconciliation by themselves: a cron expression in RECONCILE_TIMEZONE, e.g. "
            "`0 2 * * *` for 02:00 every night. Empty: only `crmsync reconcile` and the admin API start one.",
            "Reconciliation"),
    Setting("RECONCILE_TIMEZONE", _timezone, "UTC",
            "Time zone of RECONCILE_SCHEDULE (an IANA name such as `Europe/Paris`).", "Reconciliation"),
    Setting("RECONCILE_WINDOW_HOURS", _positive(_float), "4",
            "How long after its scheduled start a scheduled run may go on: at the window's end it stops where it "
            "is and the next scheduled run resumes it there. A worker that was down at the start time starts "
            "the run late, but only within the window.", "Reconciliation"),
    Setting("RECONCILE_EMAIL_TO", _addresses, "",
            "Comma-separated addresses e-mailed when a run finds differences (counts only, no personal data). "
            "Empty: no e-mail. Needs SMTP_HOST and SMTP_FROM.", "Reconciliation"),
    Setting("RECONCILE_NOTIFY_MOODLE", _bool, "true",
            "Also send Moodle's site administrators a Moodle notification when a run finds differences "
            "(through the plugin's web service at MOODLE_URL).", "Reconciliation"),
    # --- registration service --------------------------------------------------------------------
    Setting("REGISTRATION_BIND", _str, "127.0.0.1:8095",
            "Address gunicorn listens on for `crmsync registration serve` (the public registration pages; "
            "docs/registration.md).", "Registration"),
    Setting("REGISTRATION_PUBLIC_URL", _url("http", "https"), "",
            "Base URL people reach the registration pages at (e.g. https://register.example.org), used in the "
            "links e-mailed to them. Empty: http://REGISTRATION_BIND.", "Registration"),
    Setting("REGISTRATION_SECRET_KEY", _str, "",
            "Key signing the pages' CSRF tokens and session cookies (a long random string, the same for every "
            "process). Empty: `crmsync registration serve` makes one per start (sessions end on a restart).",
            "Registration", secret=True),
    Setting("REGISTRATION_DECLARATIONS_DIR", _str, "",
            "Folder of form declarations (`<key>.yaml`) that add to or replace the shipped ones "
            "(registration/declarations/).", "Registration"),
    Setting("REGISTRATION_CONFIRM_HOURS", _positive(_int), "48",
            "How long a confirmation link is valid; an unconfirmed registration holds its place that long.",
            "Registration"),
    Setting("REGISTRATION_MAGIC_LINK_MINUTES", _positive(_int), "30",
            "How long a \"get my previous answers\" link is valid.", "Registration"),
    Setting("REGISTRATION_SUBMISSIONS_PER_ADDRESS", _positive(_int), "20",
            "Most form submissions and e-mail link requests per client address per hour (429 beyond).",
            "Registration"),
    Setting("REGISTRATION_SUBMISSIONS_PER_EMAIL", _positive(_int), "5",
            "Most submissions and e-mail link requests per e-mail address per hour (429 beyond).", "Registration"),
    Setting("REGISTRATION_MIN_FILL_SECONDS", _non_negative(_int), "3",
            "A form sent back sooner than this after it was served is taken for a robot's and refused.",
            "Registration"),
    Setting("REGISTRATION_MAX_BODY_BYTES", _positive(_int), "65536",
            "Largest request body the registration pages accept (413 beyond it).", "Registration"),
    Setting("REGISTRATION_FONT_DIR", _str, "/usr/share/fonts/truetype/dejavu",
            "Folder holding DejaVuSans.ttf and DejaVuSans-Bold.ttf (Debian's fonts-dejavu-core), the Unicode "
            "font the printable PDF is set in.", "Registration"),
    Setting("REGISTRATION_CATALOGUE_SECONDS", _non_negative(_int), "300",
            "How often workers copy the registration catalogue (Registration Projects, Programmes and their "
            "Moodle Courses) from the CRM to the registration service, and show each programme's status "
            "(open, full, closed, inactive) on it; 0: only `crmsync registration pull-catalogue` does.",
            "Registration"),
    Setting("SMTP_HOST", _str, "", "SMTP server the e-mails are sent through.", "E-mail"),
    Setting("SMTP_PORT", _positive(_int), "587",
            "Its port: 587 for submission with STARTTLS, 25 for a local relay.", "E-mail"),
    Setting("SMTP_USERNAME", _str, "", "User to log in as; empty: no login.", "E-mail"),
    Setting("SMTP_PASSWORD", _str, "", "Password of SMTP_USERNAME.", "E-mail", secret=True),
    Setting("SMTP_STARTTLS", _bool, "true",
            "Switch to TLS with STARTTLS before logging in and sending (refused by the server: nothing is "
            "sent, the worker's log says why). `false` only for a relay on the same host.", "E-mail"),
    Setting("SMTP_FROM", _str, "", "Sender address of the e-mails, e.g. `crmsync@example.org`.", "E-mail"),
    # --- sandbox -----------------------------------------------------------------------------------
    Setting("SANDBOX_BIND", _str, "127.0.0.1:8090", "Address the bundled SuiteCRM sandbox listens on.", "Sandbox"),
    Setting("SANDBOX_DATABASE", _str, "var/sandbox.db",
            "SQLite file of the sandbox (`:memory:` keeps nothing across restarts).", "Sandbox"),
    Setting("MOODLE_SANDBOX_BIND", _str, "127.0.0.1:8093",
            "Address the bundled Moodle web-service sandbox listens on (`make run` starts it when MOODLE_URL "
            "is empty).", "Sandbox"),
    Setting("MOODLE_SANDBOX_DATABASE", _str, "var/moodle-sandbox.db",
            "SQLite file of the Moodle sandbox `make run` starts (`:memory:` keeps nothing across restarts).",
            "Sandbox"),
    # --- logging -----------------------------------------------------------------------------------
    Setting("LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR"), "INFO", "Log level.", "Logging"),
    Setting("LOG_FORMAT", _choice("json", "text"), "json", "Log line format.", "Logging"),
)


class Config:
    """Validated settings; attribute names are the lower-cased variable names."""

    def __init__(self, values: Mapping[str, Any]):
        self._values = dict(values)

    def __getattr__(self, attribute: str) -> Any:
        try:
            return self._values[attribute]
        except KeyError:
            raise AttributeError(attribute) from None

    def replace(self, **changes: Any) -> Config:
        unknown = set(changes) - set(self._values)
        if unknown:
            raise AttributeError(f"unknown settings: {', '.join(sorted(unknown))}")
        return Config({**self._values, **changes})

    def require(self, *attributes: str) -> None:
        """Fail with a named variable when a setting a command needs is empty."""
        for attribute in attributes:
            if not self._values[attribute]:
                raise ConfigError(f"{attribute.upper()} is not set; it is required here (see docs/configuration.md)")

    def redacted(self) -> dict[str, Any]:
        """Every setting, with secrets and the passwords inside URLs masked (for printing and logs)."""
        return {s.name: _masked(s, self._values[s.attribute]) for s in SETTINGS}


def _masked(setting: Setting, value: Any) -> Any:
    if setting.secret and value:
        return "***"
    if isinstance(value, str) and "://" in value:
        parsed = urlparse(value)
        if parsed.password:
            return value.replace(f":{parsed.password}@", ":***@", 1)
    return value


ENV_FILE_VARIABLE = "CRMSYNC_ENV_FILE"


def load(environ: Mapping[str, str] | None = None, env_file: str | os.PathLike | None = "") -> Config:
    """Read every setting; the process environment wins over the env file.

    The env file is the one named by ``crmsync --env-file`` (passed on to every process it starts as
    CRMSYNC_ENV_FILE, so gunicorn's workers and the workers' jobs read the same), else ``./.env``.
    """
    source_environ = os.environ if environ is None else environ
    if env_file == "":
        env_file = source_environ.get(ENV_FILE_VARIABLE, ".env")
    source: dict[str, str] = {}
    if env_file and Path(env_file).is_file():
        source.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    source.update(source_environ)
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = source.get(setting.name, setting.default)
        try:
            values[setting.attribute] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.name}: {exc}") from None
    if set(values["crm_webhook_secrets"]) & set(values["webhook_secrets"]):
        # A shared secret would let a Moodle site sign CRM changes (and the reverse).
        raise ConfigError("CRM_WEBHOOK_SECRETS: a secret is also in WEBHOOK_SECRETS; give the CRM its own")
    if values["reconcile_email_to"] and not (values["smtp_host"] and values["smtp_from"]):
        missing = [name for name in ("SMTP_HOST", "SMTP_FROM") if not values[name.lower()]]
        raise ConfigError(f"RECONCILE_EMAIL_TO is set but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                          "not: the notices could not be sent")
    return Config(values)


def markdown_table() -> str:
    """The configuration table of docs/configuration.md."""
    lines = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    group = None
    for setting in SETTINGS:
        if setting.group != group:
            group = setting.group
            lines.append(f"| **{group}** | | |")
        default = f"`{setting.default}`" if setting.default else "(empty)"
        lines.append(f"| `{setting.name}` | {default} | {setting.help} |")
    return "\n".join(lines)
