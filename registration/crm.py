"""The registration service and the CRM: registrations pushed to it, the catalogue pulled from it.

- **Push** (`push`): a confirmed registration becomes a Contact (the one whose e-mail address is the confirmed
  one, else a new one) and an mdl_Registrations record related to that Contact and to the Programme. The
  record is made once per registration (its id is derived from `registration_uid`, and it is looked up by
  it first), so a repeated push updates it, and only with what differs: a re-push of an unchanged
  registration writes nothing. Its `status` is written when the record is made, never after: from then on
  staff decide it in the CRM. The CRM ids are stored back on the service's row.
- **Pull** (`pull_catalogue`): the CRM's Registration Projects and Programmes (with each programme's Moodle
  Courses) are the catalogue staff keep; the service's local copy is made equal to them
  (registration.catalogue.apply_catalogue).
- **Programme status** (`push_programme_status`): open / full / closed / inactive as the service computes it,
  shown on the Programme.

Every write here is the connector's own API user's, which the SuiteCRM package never records as a CRM change
(no echo back to the service).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import yaml
from sqlalchemy.orm import Session

from crm_connector import crm_schema
from crm_connector.mapping import crm_text
from crm_connector.suitecrm import AlreadyExists, SuiteCrmClient
from crmsync.models import RegistrationStatus, RegProgramme, RegRegistration, utcnow
from registration import catalogue

log = logging.getLogger(__name__)

PROJECTS, PROGRAMMES, REGISTRATIONS, COURSES = "mdl_RegProjects", "mdl_Programmes", "mdl_Registrations", "mdl_Courses"
SCHEMA = crm_schema.load()
PROGRAMME_PROJECT = SCHEMA.relationship(PROJECTS, PROGRAMMES)
REGISTRATION_PROGRAMME = SCHEMA.relationship(PROGRAMMES, REGISTRATIONS)
REGISTRATION_CONTACT = SCHEMA.relationship("Contacts", REGISTRATIONS)
PROGRAMME_COURSES = SCHEMA.relationship(PROGRAMMES, COURSES)  # many-to-many: through its link
# A registration's record id: the same registration always names the same CRM record.
NAMESPACE = uuid.UUID("5d0e8a3c-6f1b-4b7e-9c2a-1e4f7a9b3c60")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# SuiteCRM keeps no seconds of a datetime once a record is saved again: they are written as :00, so a re-push
# compares equal.
WRITE_FORMAT = "%Y-%m-%d %H:%M:00"
DATETIMES = {f.name for f in SCHEMA.module(REGISTRATIONS).fields if f.type == "datetimecombo"}
SAMPLE_CATALOGUE = Path(__file__).with_name("sample_catalogue.yaml")
# The statuses a registration is pushed in: confirmed (double opt-in) and after.
PUSHED = RegistrationStatus.CRM


class NotConfirmed(Exception):
    """The registration's e-mail address is not confirmed (or it expired): it is not the CRM's yet."""


def record_id(registration_uid: str) -> str:
    return str(uuid.uuid5(NAMESPACE, registration_uid))


def _when(value: datetime | None) -> str:
    """A datetime as SuiteCRM stores it (UTC, Y-m-d H:i:s): an ISO value would be stored as NULL."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime(WRITE_FORMAT)


def _shown_when(value) -> str:
    """A datetime as the V8 API shows it (ISO 8601, seconds dropped), in the stored form, to compare."""
    text = str(value or "")
    if "T" not in text:
        return text
    return datetime.fromisoformat(text).astimezone(UTC).strftime(TIME_FORMAT)


def _person(registration: RegRegistration) -> tuple[str, str]:
    answers = registration.answers or {}
    return str(answers.get("first_name") or "").strip(), str(answers.get("last_name") or "").strip()


# --- push --------------------------------------------------------------------------------------------
def find_or_create_contact(crm: SuiteCrmClient, registration: RegRegistration) -> str:
    """The Contact with the confirmed e-mail address (SuiteCRM matches any address linked to a Contact;
    the oldest Contact wins), else a new one with the person's name, address and phone."""
    email = registration.email.strip().lower()
    found = next(crm.find("Contacts", {"email1": email}, fields=["email1"]), None)  # listed oldest first
    if found is not None:
        return found["id"]
    first, last = _person(registration)
    attributes = {"first_name": crm_text(first), "last_name": crm_text(last or email), "email1": email,
                  "lead_source": "Web Site"}
    phone = str((registration.answers or {}).get("phone") or "").strip()
    if phone:
        attributes["phone_mobile"] = crm_text(phone)
    return crm.create("Contacts", attributes)["id"]


def registration_attributes(registration: RegRegistration, contact_id: str) -> dict[str, str]:
    """What the CRM's record shows of a registration (status aside: see `push`)."""
    first, last = _person(registration)
    person = " ".join(p for p in (first, last) if p) or registration.email
    return {
        "name": crm_text(f"{person} – {registration.programme.name}"),
        "email": registration.email,
        "answers": json.dumps(registration.answers or {}, ensure_ascii=False, sort_keys=True),
        "submitted_at": _when(registration.submitted_at), "confirmed_at": _when(registration.confirmed_at),
        "consent_version": registration.consent_version or "", "consent_at": _when(registration.consent_at),
        "registration_uid": registration.id,
        REGISTRATION_CONTACT.relate_id_field: contact_id,
        REGISTRATION_PROGRAMME.relate_id_field: registration.programme.crm_id,
    }


def _existing(crm: SuiteCrmClient, registration: RegRegistration) -> dict | None:
    if registration.crm_id:
        found = crm.get(REGISTRATIONS, registration.crm_id)
        if found is not None:
            return found
    return next(iter(crm.find(REGISTRATIONS, {"registration_uid": registration.id})), None)


def _differs(existing: dict, wanted: dict) -> dict[str, str]:
    """The wanted values the record does not show (datetimes compared as stored)."""
    def shown(name: str) -> str:
        value = existing.get(name)
        return _shown_when(value) if name in DATETIMES else str(value or "")

    return {name: value for name, value in wanted.items() if shown(name) != str(value or "")}


def push(session: Session, crm: SuiteCrmClient, registration_id: str) -> RegRegistration:
    """Push one confirmed registration (see the module's docstring); the caller commits. Raises
    catalogue.UnknownRegistration, NotConfirmed, and the CRM client's errors."""
    registration = session.get(RegRegistration, registration_id)
    if registration is None:
        raise catalogue.UnknownRegistration(registration_id)
    if registration.status not in PUSHED:
        raise NotConfirmed(f"registration {registration_id} is {registration.status}: only confirmed ones go to the CRM")
    contact_id = registration.crm_contact_id or find_or_create_contact(crm, registration)
    wanted = registration_attributes(registration, contact_id)
    existing = _existing(crm, registration)
    if existing is None:
        made_id = record_id(registration.id)
        try:
            crm.create(REGISTRATIONS, {**wanted, "status": registration.status}, made_id)
        except AlreadyExists:  # made by an earlier push whose answer was lost
            crm.update(REGISTRATIONS, made_id, wanted)
        crm_id = made_id
    else:
        crm_id = existing["id"]
        changed = _differs(existing, wanted)
        if changed:
            crm.update(REGISTRATIONS, crm_id, changed)
    if (registration.crm_id, registration.crm_contact_id) != (crm_id, contact_id) or registration.pushed_at is None:
        registration.crm_id, registration.crm_contact_id, registration.pushed_at = crm_id, contact_id, utcnow()
    return registration


# --- catalogue ---------------------------------------------------------------------------------------
def _plain(record: dict, names: tuple[str, ...]) -> dict:
    return {name: record.get(name) for name in names}


def read_catalogue(crm: SuiteCrmClient) -> tuple[list[dict], list[dict]]:
    """(projects, programmes) as apply_catalogue takes them: CRM field names, `id`, and for programmes
    `project_id` and `course_crm_ids` (their Moodle Courses, through the many-to-many link)."""
    projects = [{"id": p["id"], **_plain(p, ("name", "active", "description", "admin_email", "digest_period"))}
                for p in crm.find(PROJECTS, {})]
    programmes = []
    for record in crm.find(PROGRAMMES, {}):
        courses = [c["id"] for c in crm.related(PROGRAMMES, record["id"], PROGRAMME_COURSES.link)]
        programmes.append({"id": record["id"], "project_id": record.get(PROGRAMME_PROJECT.relate_id_field) or None,
                           **_plain(record, ("name", "active", "capacity", "status")),
                           "opens_at": _shown_when(record.get("opens_at")) or None,
                           "closes_at": _shown_when(record.get("closes_at")) or None,
                           "course_crm_ids": courses})
    return projects, programmes


def pull_catalogue(session: Session, crm: SuiteCrmClient) -> tuple[int, int]:
    """Make the local catalogue the CRM's; the caller commits. Returns (projects, programmes) read."""
    projects, programmes = read_catalogue(crm)
    catalogue.apply_catalogue(session, projects, programmes)
    return len(projects), len(programmes)


def push_programme_status(session: Session, crm: SuiteCrmClient, programme_id: int) -> str | None:
    """Show the programme's status (computed now: registration.catalogue's rule) on its CRM record, when it
    differs. Returns the status written, None when nothing was."""
    programme = session.get(RegProgramme, programme_id)
    if programme is None:
        raise LookupError(f"no programme {programme_id}")
    catalogue.refresh_status(session, programme)
    record = crm.get(PROGRAMMES, programme.crm_id)
    if record is None or record.get("status") == programme.status:
        return None
    crm.update(PROGRAMMES, programme.crm_id, {"status": programme.status})
    return programme.status


# --- the sample catalogue of `make run` ---------------------------------------------------------------
def seed_sample_catalogue(crm_client: SuiteCrmClient, path: str | Path) -> dict[str, int]:
    """Create the sample catalogue's projects and programmes in a CRM (the bundled sandbox: `make run`) under
    the file's ids, each programme related to its project and to the Moodle Courses the CRM has for the
    Moodle course short names it lists (`course_shortnames`; those the CRM does not have yet, before Moodle
    sent them, are related by a later run). Records that exist already are left as they are, so running it
    again changes nothing but the missing course links. Returns what it made: projects, programmes, courses."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    made = {"projects": 0, "programmes": 0, "courses": 0}
    for project in data.get("projects", []):
        attributes = {"name": project["name"], "active": "1" if project.get("active", True) else "0",
                      "description": project.get("description") or "", "admin_email": project.get("admin_email") or "",
                      "digest_period": project.get("digest_period") or "weekly"}
        if crm_client.get(PROJECTS, project["id"]) is None:
            crm_client.create(PROJECTS, attributes, project["id"])
            made["projects"] += 1
    courses = {c.get("shortname"): c["id"] for c in crm_client.find(COURSES, {}, fields=["shortname"])}
    for programme in data.get("programmes", []):
        if crm_client.get(PROGRAMMES, programme["id"]) is None:
            attributes = {"name": programme["name"], "active": "1" if programme.get("active", True) else "0",
                          "opens_at": str(programme.get("opens_at") or ""),
                          "closes_at": str(programme.get("closes_at") or ""),
                          "capacity": str(programme.get("capacity") or 0), "status": "open",
                          PROGRAMME_PROJECT.relate_id_field: programme["project_id"]}
            crm_client.create(PROGRAMMES, attributes, programme["id"])
            made["programmes"] += 1
        linked = {c["id"] for c in crm_client.related(PROGRAMMES, programme["id"], PROGRAMME_COURSES.link)}
        for shortname in programme.get("course_shortnames") or []:
            if shortname in courses and courses[shortname] not in linked:
                crm_client.request("POST", f"module/{PROGRAMMES}/{programme['id']}/relationships/{PROGRAMME_COURSES.link}",
                                   body={"data": {"type": COURSES, "id": courses[shortname]}})
                made["courses"] += 1
    return made
