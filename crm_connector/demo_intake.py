"""`crmsync demo`, last part: administration from the CRM. A CRM user puts the demo's learners in a Target
List, enrols them with a Moodle Intake in the demo course and one of its groups, then moves them to another
group with a second intake; each is followed until the CRM shows its result, and Moodle's groups are read
back through its web services.

Everything is done through the V8 API as a CRM user (the password grant: the sync's own API user's writes
are not sent to Moodle), as a CRM user would do it in SuiteCRM's screens."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import click

from crm_connector.demo import COURSE, LEARNERS, SITE, crm_user_client, moodle_client
from crm_connector.moodle import MoodleClient, MoodleError
from crm_connector.suitecrm import CrmError, SuiteCrmClient
from crmsync.config import Config

GROUPS = ("Group A", "Group B")  # the demo course's groups in the Moodle sandbox (its recorded site)
LIST_LINK = "mdl_intakes_prospectlistsprospectlists_ida"


def make_target_list(crm_user: SuiteCrmClient, stamp: str) -> tuple[str, list[str]]:
    """A Target List of the demo learners' Contacts; (its id, the learners' names)."""
    contacts = list(crm_user.find("Contacts", {"moodle_site_id_c": SITE["id"]}, fields=["first_name", "last_name"]))
    if not contacts:
        raise LookupError("the demo learners' Contacts are not in the CRM")
    target_list = crm_user.create("ProspectLists", {"name": f"Demo intake {stamp}", "list_type": "default"})
    for contact in contacts:
        crm_user.request("POST", f"module/ProspectLists/{target_list['id']}/relationships",
                         body={"data": {"type": "Contacts", "id": contact["id"]}})
    return target_list["id"], sorted(f"{c['first_name']} {c['last_name']}" for c in contacts)


def run_intake(crm_user: SuiteCrmClient, attributes: dict, wait_seconds: float) -> dict:
    """Create an intake as a CRM user and wait until the CRM shows its result; the intake as then read."""
    intake = crm_user.create("mdl_Intakes", attributes)
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        shown = crm_user.get("mdl_Intakes", intake["id"]) or {}
        if shown.get("sync_state") in ("done", "failed"):
            return shown
        time.sleep(1)
    raise click.ClickException(
        f"the intake {attributes['name']!r} still shows {shown.get('sync_state') or 'nothing'!r} after "
        f"{wait_seconds:.0f}s: `crmsync status` shows whether the connector runs and why it waits")


def per_person(crm_user: SuiteCrmClient, intake_id: str) -> list[str]:
    """The intake's enrolment records (its Enrolments subpanel): each person's own result."""
    lines = []
    for record in crm_user.related("mdl_Intakes", intake_id, "mdl_enrolments_mdl_intakes"):
        result = record.get("sync_state") or ""
        reason = f": {record['sync_message']}" if record.get("sync_message") else ""
        lines.append(f"{record.get('name')}: {result}{reason}")
    return sorted(lines)


def groups_in_moodle(moodle: MoodleClient) -> list[str]:
    """Each demo learner's groups in the demo course, as Moodle's web services answer."""
    try:
        enrolled = {u["id"]: u for u in moodle.get_enrolled_users(COURSE["id"])}
    except MoodleError as error:
        return [f"(Moodle could not be read: {error})"]
    lines = []
    for learner in LEARNERS:
        user = enrolled.get(learner["id"])
        groups = ", ".join(sorted(g["name"] for g in user.get("groups", []))) if user else None
        lines.append(f"{learner['firstname']} {learner['lastname']}: "
                     + (f"groups {groups or '(none)'}" if user else "not enrolled"))
    return lines


def administration(settings: Config, wait_seconds: float, echo) -> None:
    crm_user, moodle = crm_user_client(settings), moodle_client(settings)
    if crm_user is None or moodle is None:
        echo("\nIntake and group move: skipped: they are made as a CRM user of the bundled SuiteCRM sandbox and "
             "read back from the bundled Moodle sandbox (or MOODLE_URL); start them with `crmsync run`")
        return
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    try:
        list_id, names = make_target_list(crm_user, stamp)
        echo(f"\nIntake: a CRM user put {', '.join(names)} in the Target List 'Demo intake {stamp}' and enrols "
             f"them in {COURSE['shortname']}, group {GROUPS[0]}, with a Moodle Intake")
        shown = run_intake(crm_user, {"name": f"Demo intake {stamp}", "action": "enrol",
                                      "courses": COURSE["shortname"], "groups_list": GROUPS[0], "role": "student",
                                      LIST_LINK: list_id}, wait_seconds)
        _show(crm_user, moodle, shown, echo)
        echo(f"\nGroup move: the same CRM user moves them from {GROUPS[0]} to {GROUPS[1]} with a second intake")
        shown = run_intake(crm_user, {"name": f"Demo move {stamp}", "action": "move",
                                      "courses": COURSE["shortname"], "move_from": GROUPS[0],
                                      "groups_list": GROUPS[1], LIST_LINK: list_id}, wait_seconds)
        _show(crm_user, moodle, shown, echo)
    except (LookupError, CrmError) as error:
        raise click.ClickException(f"administration from the CRM could not be shown: {error}") from None


def _show(crm_user: SuiteCrmClient, moodle: MoodleClient, shown: dict, echo) -> None:
    echo(f"  the CRM shows: {shown.get('sync_state')}; {shown.get('people')} people, {shown.get('done_count')} done, "
         f"{shown.get('failed_count')} failed" + (f" ({shown['sync_message']})" if shown.get("sync_message") else ""))
    for line in per_person(crm_user, shown["id"]):
        echo(f"    {line}")
    echo("  Moodle, read back through its web services:")
    for line in groups_in_moodle(moodle):
        echo(f"    {line}")
