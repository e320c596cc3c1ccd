"""CRM → Moodle: a CRM user's edit of a learner's Contact, written to their Moodle user.

Called by the job (jobs.py) for a CRM message, under the claim on its subject (`contact:<id>`), with the
same ordering, retries, pauses and dead letters as Moodle → CRM. The field mapping is read in reverse;
each field's owner and the newer change decide what is written (ownership.py). Deleting a Contact never
deletes a Moodle user: removing a person from Moodle stays a Moodle admin's act.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select

from crm_connector import ownership
from crm_connector.mapping import Mapped
from crm_connector.moodle import AuthError, InvalidParameter, MoodleClient, PermanentError
from crmsync import contract
from crmsync.config import Config
from crmsync.models import CrmRecord, SubjectState

# Moodle's warning codes in core_user_update_users' answer (user/externallib.php), for an operator.
WARNINGS = {
    "invaliduserid": "Moodle has no user {user} (deleted in Moodle, or the Contact's Moodle user id is wrong)",
    "usernotupdatedadmin": "Moodle does not let web services change user {user}: a site administrator",
    "usernotupdateddeleted": "Moodle user {user} is deleted",
    "usernotupdatedguest": "Moodle user {user} is the guest account",
    "useremailinvalid": "Moodle refused the e-mail address of user {user} as invalid",
    "useremailduplicate": "Moodle refused the e-mail address of user {user}: another Moodle user has it",
    "usernotupdatedexists": "Moodle refused the username of user {user}: another Moodle user has it",
}


# Moodle's invalid_parameter_exception quotes the refused value: a dead letter's reason is logged, so it is not.
QUOTED_VALUE = re.compile(r'the value is ".*?", the server was expecting', re.S)


class MoodleRefused(PermanentError):
    """Moodle answered the update with a warning: nothing of it was changed for that user."""


@dataclass
class Outcome:
    skipped: str | None = None  # why nothing was written (the event is recorded as skipped)
    written: list[str] = field(default_factory=list)  # CRM field names written to Moodle
    superseded: list[str] = field(default_factory=list)
    moodle_writes: int = 0
    rewrite: list[tuple[str, str]] = field(default_factory=list)  # (site id, subject) to write again

    @property
    def detail(self) -> str:
        if self.skipped:
            return self.skipped
        parts = [f"{self.moodle_writes} Moodle writes" + (f" ({', '.join(self.written)})" if self.written else "")]
        if self.superseded:
            parts.append(f"superseded: {', '.join(self.superseded)} (GET /api/v1/conflicts)")
        return "; ".join(parts)


def moodle_site(session, config: Config) -> str | None:
    """The site id of the Moodle at MOODLE_URL: MOODLE_SITE_ID, else the one Moodle site the connector knows."""
    if config.moodle_site_id:
        return config.moodle_site_id
    sites = session.scalars(select(SubjectState.site_id).where(
        SubjectState.site_id.not_like(contract.CRM_SITE_PREFIX + "%")).distinct().limit(2)).all()
    return sites[0] if len(sites) == 1 else None


def target_site(session, config: Config) -> str:
    """The Moodle site CRM changes are written to; AuthError (work pauses, CRM changes wait) when it is unknown."""
    if not (config.moodle_url and config.moodle_token):
        raise AuthError("Moodle is not configured: set MOODLE_URL and MOODLE_TOKEN (docs/configuration.md); "
                        "CRM changes wait")
    site_id = moodle_site(session, config)
    if site_id is None:
        raise AuthError("MOODLE_SITE_ID is not set and the connector knows several Moodle sites (or none): set "
                        "it to the site id of the Moodle at MOODLE_URL; CRM changes wait")
    return site_id


def apply(session, config: Config, client_factory, crm_site_id: str, message: dict, before_write,
          again: bool = False, write_all: bool = False) -> Outcome:
    """Apply one CRM message; the caller commits. Raises the Moodle client's errors, StateMoved, MappingError.
    `again`, `write_all`: as ownership.from_crm."""
    data = message["data"]
    if message["type"] == "contact.deleted":
        return Outcome(skipped="a Contact deleted in the CRM never deletes its Moodle user: deleting people in "
                               "Moodle stays a Moodle admin's act")
    if data["moodle"] is None:
        return Outcome(skipped="the Contact is linked to no Moodle user (no Moodle site and user id)")
    site_id = target_site(session, config)
    user_id = data["moodle"]["user_id"]
    if data["moodle"]["site_id"] != site_id:
        return Outcome(skipped=f"the Contact is linked to a user of Moodle site {data['moodle']['site_id']}; "
                               f"this connector writes to Moodle site {site_id} only")
    key = f"user:{user_id}"
    row = session.get(CrmRecord, (site_id, key), populate_existing=True)
    if row is not None and row.tombstone:
        return Outcome(skipped=f"Moodle user {user_id} was deleted ({row.tombstone}): nothing is written to them")
    if row is not None and row.crm_id != data["id"]:
        return Outcome(skipped=f"Moodle user {user_id}'s Contact here is {row.crm_id}, not this one: a duplicate "
                               "Contact naming the same Moodle user is not written to Moodle")
    to_write, decision = ownership.from_crm(row, config, crm_site_id, data, message["id"], site_id, key, again,
                                                  write_all)
    outcome = Outcome(superseded=[loss.field.crm for loss in decision.losses])
    if to_write:
        update = _user_update(user_id, to_write)
        before_write()
        try:
            warnings = client_factory().update_users([update])
        except InvalidParameter as exc:
            raise MoodleRefused(QUOTED_VALUE.sub("the value (not shown) is not what the server was expecting",
                                                 exc.detail) + " (fix the value in the CRM)") from None
        outcome.moodle_writes = 1
        if warnings:
            raise MoodleRefused("; ".join(_explain(w, user_id) for w in warnings))
        outcome.written = sorted(m.crm for m in to_write)
    ownership.settle_from_crm(session, decision, to_write, row)
    if decision.rewrite_other:
        outcome.rewrite.append((site_id, key))  # the CRM shows a value that lost: Moodle → CRM writes it again
    return outcome


def _user_update(user_id: int, values: dict[Mapped, str]) -> dict:
    update: dict = {"id": user_id}
    custom = [{"type": mapped.profile_field, "value": value} for mapped, value in values.items()
              if mapped.profile_field is not None]
    update.update({mapped.moodle: value for mapped, value in values.items() if mapped.profile_field is None})
    if custom:
        update["customfields"] = custom
    return update


def _explain(warning: dict, user_id: int) -> str:
    code = str(warning.get("warningcode", ""))
    known = WARNINGS.get(code)
    text = known.format(user=user_id) if known else f"Moodle did not update user {user_id}"
    return f"{text} (Moodle: {code}: {warning.get('message', '')})"


def client(config: Config) -> MoodleClient:
    return MoodleClient(config.moodle_url, config.moodle_token, config.moodle_timeout_seconds)
