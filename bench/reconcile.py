"""Reconciliation at scale: a site of N learners with ~20 synced records each, compared against the CRM's read
ceiling measured in the same run, at two sizes to show the reconciler's memory stays flat.

The Moodle sandbox exports users, courses, enrolments and groups (no grades, completions, attendance or
consents), so a learner's 20 records are their Contact and 19 enrolments (each with a role and a group).
Both sides are seeded in bulk: Moodle through the sandbox's /__sandbox/seed, the CRM straight into the
SuiteCRM sandbox's SQLite store with the records the connector would have written for Moodle's export (its
own `writes_for` and field ownership) and the id map rows it would have kept. Then a known set of
differences is planted, and the reconcile, run in a fresh process (its peak RSS is the reconciler's own),
must find exactly those.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import redis as redis_lib
from sqlalchemy import insert

from bench import harness
from bench.report import table, verdict
from crm_connector import ownership
from crm_connector.mapping import record_id, writes_for
from crm_connector.moodle.client import MoodleClient
from crm_connector.suitecrm import SuiteCrmClient
from crmsync import config as crmsync_config
from crmsync import db
from crmsync.models import CrmRecord, ReconcileRun
from moodle_sandbox.testing import MoodleSandboxProcess
from reconciler import crm_state, kinds, moodle_state, report
from suitecrm_sandbox import modules as crm_modules
from suitecrm_sandbox.store import Store as CrmStore
from suitecrm_sandbox.testing import SandboxProcess

COURSES = 20
ENROLMENTS_PER_LEARNER = 19  # + the Contact: 20 synced records per learner
GROUPS_PER_COURSE = 4
FIRST_USER = 100
FIRST_COURSE = 10
STUDENT_ROLE = 5
PLANTED_EACH = 5  # of every kind planted
UNCAPPED_RPS = 1_000_000.0  # RECONCILE_*_RPS: the caps never pace this run
CEILING_PAGES = 25  # per module: sequential V8 list pages, spread over the module's pages
SEED_CHUNK = 50_000


# --- the site -----------------------------------------------------------------------------------------------
def moodle_rows(learners: int) -> dict[str, list[dict]]:
    """Courses, their manual enrolment instances and groups; learners enrolled as students in 19 of the 20
    courses (not course uid % 20), each in one group of each course."""
    courses = [{"id": FIRST_COURSE + c, "shortname": f"BENCH{c:02d}", "fullname": f"Bench course {c}",
                "category": 1, "startdate": 1767225600, "timemodified": 1767225600} for c in range(COURSES)]
    enrol = [{"id": FIRST_COURSE + c, "courseid": FIRST_COURSE + c, "enrol": "manual", "roleid": STUDENT_ROLE}
             for c in range(COURSES)]
    groups = [{"id": 1000 + c * GROUPS_PER_COURSE + g, "courseid": FIRST_COURSE + c, "name": f"Group {g + 1}",
               "idnumber": f"B{c:02d}G{g}", "timemodified": 1767225600}
              for c in range(COURSES) for g in range(GROUPS_PER_COURSE)]
    users, ue, ra, gm = [], [], [], []
    for n in range(learners):
        uid = FIRST_USER + n
        users.append({"id": uid, "username": f"learner{uid}", "firstname": "Learner", "lastname": f"L{uid}",
                      "email": f"learner{uid}@example.invalid", "city": "Lyon", "country": "FR",
                      "timecreated": 1767225600, "timemodified": 1767225600})
        for c in range(COURSES):
            if c == uid % COURSES:
                continue
            ue.append({"enrolid": FIRST_COURSE + c, "userid": uid, "timestart": 1767225600,
                       "timecreated": 1767225600, "timemodified": 1767225600})
            ra.append({"roleid": STUDENT_ROLE, "courseid": FIRST_COURSE + c, "userid": uid})
            gm.append({"groupid": 1000 + c * GROUPS_PER_COURSE + uid % GROUPS_PER_COURSE, "userid": uid})
    return {"course": courses, "enrol": enrol, "groups": groups, "user": users, "user_enrolments": ue,
            "role_assignments": ra, "groups_members": gm}


def seed_moodle(moodle: MoodleSandboxProcess, rows: dict[str, list[dict]]) -> None:
    for table_name, table_rows in rows.items():
        for start in range(0, len(table_rows), SEED_CHUNK):
            moodle.seed(**{table_name: table_rows[start:start + SEED_CHUNK]})


@dataclass
class Planted:
    """What was made to differ, as (kind, key, field) the report must list, and nothing else."""

    expected: set[tuple[str, str, str | None]]


def _learner(learners: int, index: int) -> int:
    """The index-th learner chosen for a planted difference, spread over the site."""
    return FIRST_USER + (index * 7919) % learners


def seed_crm(path: Path, database_url: str, moodle: MoodleSandboxProcess, settings, learners: int,
             page_size: int) -> tuple[Planted, str, int]:
    """The CRM as the connector leaves it for Moodle's export, with the planted differences; (planted, site id,
    CRM records written)."""
    changed_contacts = {_learner(learners, i) for i in range(PLANTED_EACH)}
    duplicated_contacts = {_learner(learners, PLANTED_EACH + i) for i in range(PLANTED_EACH)}
    suspended = {_learner(learners, 2 * PLANTED_EACH + i) for i in range(PLANTED_EACH)}
    lost = {_learner(learners, 3 * PLANTED_EACH + i) for i in range(PLANTED_EACH)}
    extra = {_learner(learners, 4 * PLANTED_EACH + i) for i in range(PLANTED_EACH)}
    planted: set[tuple[str, str, str | None]] = set()
    definitions = crm_modules.build(crm_modules.package_schema(None))
    store = CrmStore(str(path))
    client = MoodleClient(moodle.url, moodle.token)
    site_id, written, now = "", 0, time.time()
    stored_ids: set[str] = set()
    with db.session_scope(database_url) as session:
        for kind in moodle_state.KINDS:
            fromid = 0
            while True:
                answer = client.export_state(kind, fromid=fromid, limit=page_size)
                messages = [json.loads(item["message"]) for item in answer.get("items", [])]
                records, id_map = {}, []
                for message in messages:
                    site_id = site_id or message["site"]["id"]
                    writes, _ = ownership.from_moodle(session, settings, site_id, message,
                                                      writes_for(message, settings))
                    for write in writes:
                        if write.delete:
                            continue
                        record = records.setdefault(write.key, {"module": write.module, "attributes": {},
                                                                "parents": {}})
                        # As compare.merge: a record's own write wins over another message's facet of it.
                        record["attributes"].update(write.attributes if not write.facet else {
                            k: v for k, v in write.attributes.items() if k not in record["attributes"]})
                        record["parents"].update(dict(write.parents))
                for key, record in records.items():
                    prefix, *ids = key.split(":")
                    uid = int(ids[0]) if prefix in ("user", "enrolment") else None
                    course = FIRST_COURSE + COURSES - 1 - (uid % COURSES if uid else 0)
                    if prefix == "enrolment" and uid in lost and int(ids[1]) == course:
                        planted.add((kinds.MISSING_IN_CRM, key, None))
                        continue  # a lost event: neither the record nor the id map row
                    attributes = dict(record["attributes"])
                    if prefix == "user" and uid in changed_contacts:
                        attributes["last_name"] = "Edited by hand"
                        planted.add((kinds.FIELD_DIFFERS, key, "last_name"))
                    if prefix == "enrolment" and uid in suspended and int(ids[1]) == course:
                        attributes["status"] = "suspended"
                        planted.add((kinds.FIELD_DIFFERS, key, "status"))
                    crm_id = record_id(site_id, key)
                    if crm_id in stored_ids:  # a facet of a record an earlier page wrote (a group's course)
                        _add_facet(store, crm_id, definitions[record["module"]], attributes)
                        continue
                    stored_ids.add(crm_id)
                    _store_record(store, definitions[record["module"]], crm_id, attributes, record["parents"],
                                  site_id, now)
                    id_map.append({"site_id": site_id, "entity_key": key, "crm_module": record["module"],
                                   "crm_id": crm_id, "incarnation": 0})
                    written += 1
                    if prefix == "user" and uid in duplicated_contacts:
                        _store_record(store, definitions["Contacts"], str(uuid.uuid4()), attributes, {}, site_id,
                                      now)
                        planted.add((kinds.DUPLICATE_CONTACT, key, "id"))
                        written += 1
                    if prefix == "enrolment" and uid in extra and int(ids[1]) == course:
                        # The course the learner is not in (uid % 20): an enrolment Moodle no longer has.
                        gone = FIRST_COURSE + uid % COURSES
                        gone_key = f"enrolment:{uid}:{gone}"
                        gone_attributes = {**attributes, "moodle_course_id": gone, "name": f"gone {gone_key}"}
                        _store_record(store, definitions[record["module"]], record_id(site_id, gone_key),
                                      gone_attributes, {}, site_id, now)
                        planted.add((kinds.EXTRA_IN_CRM, gone_key, None))
                        written += 1
                if id_map:
                    session.execute(insert(CrmRecord), id_map)
                    session.commit()
                fromid = int(answer.get("nextfromid") or 0)
                if not fromid or not messages:
                    break
    return Planted(planted), site_id, written


def _store_record(store: CrmStore, module, crm_id: str, attributes: dict, parents: dict, site_id: str,
                  now: float) -> None:
    """One record as the sandbox's V8 create stores it (values converted as SuiteCRM keeps them)."""
    fields, relations = {}, []
    for name, value in attributes.items():
        if name in module.relate_ids:
            if value:
                relations.append((module.relate_ids[name][0], str(value)))
            continue
        fields[name] = "" if value is None else str(value) if name == "email1" else crm_modules.convert(
            module, name, value)
    fields[crm_state.BY_NAME[module.name].site_field] = site_id  # as the writer adds it to every record
    for name, parent_key in parents.items():
        if name in module.relate_ids:
            relations.append((module.relate_ids[name][0], record_id(site_id, parent_key)))
    with store.transaction() as connection:
        connection.execute("INSERT INTO records (id, module, fields, created_at, modified_at) VALUES (?, ?, ?, ?, ?)",
                           (crm_id, module.name, json.dumps(fields), now, now))
        for relationship, parent_id in relations:
            connection.execute("INSERT OR IGNORE INTO relations VALUES (?, ?, ?, ?)",
                               (relationship, parent_id, crm_id, now))
        if fields.get("email1"):
            connection.execute("INSERT INTO email_links (record_id, address) VALUES (?, ?)", (crm_id, fields["email1"]))


def _add_facet(store: CrmStore, crm_id: str, module, attributes: dict) -> None:
    record = store.get_any(module.name, crm_id)
    fields = {**{k: crm_modules.convert(module, k, v) for k, v in attributes.items() if k not in module.relate_ids},
              **record.fields}
    store.update(crm_id, fields, record.modified_at)


# --- the reconcile, in a fresh process ------------------------------------------------------------------
def _vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _reconcile_child(environ: dict, answers) -> None:
    """Runs in a spawned interpreter: its RSS before the run and its peak (VmHWM) are the reconciler's."""
    os.environ.update(environ)
    from reconciler.run import reconcile

    settings = crmsync_config.load(environ, env_file=None)
    phases: dict[str, float] = {}  # phase → when its last page was committed, s from the start
    before = _vm("VmRSS")
    started = time.monotonic()

    def progress(update) -> None:
        phases[update.phase] = time.monotonic() - started

    run_id = reconcile(settings, trigger="cli", progress=progress)
    answers.put({"run_id": run_id, "seconds": time.monotonic() - started, "rss_before": before,
                 "rss_peak": _vm("VmHWM"), "phases": phases})


def run_reconcile(environ: dict) -> dict:
    context = multiprocessing.get_context("spawn")
    answers = context.Queue()
    child = context.Process(target=_reconcile_child, args=(environ, answers))
    child.start()
    try:
        answer = answers.get(timeout=7200)
    finally:
        child.join(timeout=60)
    if child.exitcode not in (0, None):
        raise RuntimeError(f"the reconcile process ended with {child.exitcode}")
    return answer


# --- the CRM's read ceiling ---------------------------------------------------------------------------------
def crm_ceiling(crm: SandboxProcess, settings, site_id: str, page_size: int) -> tuple[float, float]:
    """(pages/s, records/s) of sequential V8 list pages as the reconciler asks for them (same filter, page size,
    sort and fields), sampled over every populated module's pages."""
    client = SuiteCrmClient(crm.url, crm.client_id, crm.client_secret)
    pages = records = 0
    elapsed = 0.0
    for module in crm_state.MODULES:
        params = {f"filter[{module.site_field}][eq]": site_id, "page[size]": page_size, "page[number]": 1,
                  "sort": crm_state.STABLE_SORT, f"fields[{module.name}]": ",".join(crm_state.fields_read(module,
                                                                                                         settings))}
        first = client.request("GET", f"module/{module.name}", params=params) or {}
        total = int((first.get("meta") or {}).get("total-pages") or 0)
        if not total:
            continue
        numbers = sorted({1 + (i * total) // CEILING_PAGES for i in range(min(CEILING_PAGES, total))})
        for number in numbers:
            started = time.monotonic()
            payload = client.request("GET", f"module/{module.name}", params={**params, "page[number]": number})
            elapsed += time.monotonic() - started
            pages += 1
            records += len((payload or {}).get("data", []))
    return pages / elapsed, records / elapsed


def moodle_ceiling(moodle: MoodleSandboxProcess, page_size: int) -> tuple[float, float]:
    """(pages/s, items/s) of sequential export pages of the biggest kind, enrolments, the page size the same."""
    client = MoodleClient(moodle.url, moodle.token)
    client.export_state("enrolment", fromid=0, limit=1)  # the sandbox indexes its tables once: not timed
    pages = items = 0
    fromid, started = 0, time.monotonic()
    while pages < CEILING_PAGES:
        answer = client.export_state("enrolment", fromid=fromid, limit=page_size)
        pages += 1
        items += len(answer.get("items", []))
        fromid = int(answer.get("nextfromid") or 0)
        if not fromid:
            break
    elapsed = time.monotonic() - started
    return pages / elapsed, items / elapsed


# --- one size -------------------------------------------------------------------------------------------
def measure(learners: int, page_size: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="crmsync-bench-reconcile-"))
    database_url = f"sqlite:///{tmp / 'bench.db'}"
    db.upgrade(database_url)
    redis_lib.Redis.from_url(harness.BENCH_REDIS).flushdb()
    moodle = MoodleSandboxProcess(token="5ca1ab1e" * 4, site="empty").start()
    crm = None
    try:
        moodle.issue_token("crm_sync", 2, token=moodle.token)
        started = time.monotonic()
        seed_moodle(moodle, moodle_rows(learners))
        settings = crmsync_config.load({"DATABASE_URL": database_url, "REDIS_URL": harness.BENCH_REDIS},
                                       env_file=None)
        planted, site_id, written = seed_crm(tmp / "crm.db", database_url, moodle, settings, learners, page_size)
        crm = SandboxProcess(database=str(tmp / "crm.db")).start()
        seeded = time.monotonic() - started
        environ = {"DATABASE_URL": database_url, "REDIS_URL": harness.BENCH_REDIS, "MOODLE_URL": moodle.url,
                   "MOODLE_TOKEN": moodle.token, "MOODLE_SITE_ID": site_id, "SUITECRM_URL": crm.url,
                   "SUITECRM_CLIENT_ID": crm.client_id, "SUITECRM_CLIENT_SECRET": crm.client_secret,
                   "RECONCILE_PAGE_SIZE": str(page_size), "RECONCILE_MOODLE_RPS": str(UNCAPPED_RPS),
                   "RECONCILE_CRM_RPS": str(UNCAPPED_RPS), "RECONCILE_NOTIFY_MOODLE": "false",
                   "RECONCILE_LEASE_SECONDS": "3600", "LOG_LEVEL": "WARNING"}
        crm_pages_s, crm_records_s = crm_ceiling(crm, settings, site_id, page_size)
        moodle_pages_s, moodle_items_s = moodle_ceiling(moodle, page_size)
        outcome = run_reconcile(environ)
        with db.session_scope(database_url) as session:
            found = {(d.kind, d.key, d.field) for d in report.differences(session, outcome["run_id"])}
            run = session.get(ReconcileRun, outcome["run_id"])
            requests, status = dict(run.requests), run.status
    finally:
        if crm is not None:
            crm.stop()
        moodle.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return {"learners": learners, "records": written, "seeded_s": seeded, "planted": planted.expected,
            "found": found, "requests": requests, "status": status, "crm_ceiling": (crm_pages_s, crm_records_s),
            "moodle_ceiling": (moodle_pages_s, moodle_items_s), **outcome}


def run(learners: int = 10_000, page_size: int = 1000) -> str:
    small = measure(max(1, learners // 10), page_size)
    large = measure(learners, page_size)
    rows = []
    for label, m in (("N/10", small), ("N", large)):
        crm_pages_s, crm_records_s = m["crm_ceiling"]
        crm_phase = m["phases"].get("crm", 0) - m["phases"].get("moodle", 0)
        throughput = m["records"] / m["seconds"]
        exact = m["found"] == m["planted"]
        rows += [
            (f"{label}: learners / CRM records", f"{m['learners']} / {m['records']}", "", "", ""),
            (f"{label}: seeding both sides, s", f"{m['seeded_s']:.1f}", "", "", ""),
            (f"{label}: reconcile time, s", f"{m['seconds']:.1f}", "", "", ""),
            (f"{label}: Moodle / CRM requests", f"{m['requests'].get('moodle', 0)} / {m['requests'].get('crm', 0)}",
             "", "", ""),
            (f"{label}: CRM records compared per s", f"{throughput:.0f}", f"{crm_records_s:.0f} (CRM ceiling)",
             f"{throughput / crm_records_s:.2f}", ""),
            (f"{label}: CRM phase, pages/s", f"{m['requests'].get('crm', 0) / max(crm_phase, 1e-9):.2f}",
             f"{crm_pages_s:.2f} (CRM ceiling)", f"{m['requests'].get('crm', 0) / max(crm_phase, 1e-9) / crm_pages_s:.2f}",
             ""),
            (f"{label}: Moodle export read ceiling, items/s", f"{m['moodle_ceiling'][1]:.0f}", "", "", ""),
            (f"{label}: reconcile RSS peak / before run, MB", f"{m['rss_peak']:.0f} / {m['rss_before']:.0f}", "", "",
             ""),
            (f"{label}: differences found / planted", f"{len(m['found'])} / {len(m['planted'])}", "", "",
             verdict(exact and m["status"] == "done", "exactly the planted")),
        ]
    growth_small, growth_large = small["rss_peak"] - small["rss_before"], large["rss_peak"] - large["rss_before"]
    rows.append(("reconcile RSS growth N vs N/10, MB", f"{growth_large:.0f}", f"{growth_small:.0f} (N/10)",
                 f"{growth_large / max(growth_small, 1):.2f}", verdict(growth_large <= 1.5 * max(growth_small, 10),
                                                                     "flat: <= 1.5x")))
    return table("Reconciliation", f"{learners} learners (and {learners // 10}) x (1 Contact + "
                 f"{ENROLMENTS_PER_LEARNER} enrolments, each with a role and a group), {COURSES} courses, "
                 f"{COURSES * GROUPS_PER_COURSE} groups; {PLANTED_EACH} of each planted difference; page size "
                 f"{page_size} on both sides; request caps {UNCAPPED_RPS:.0f}/s (never reached); Moodle and SuiteCRM "
                 "sandboxes, SQLite id map, local Redis; reconcile in its own process", rows)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=1000)
    arguments = parser.parse_args()
    print(run(arguments.learners, arguments.page_size))
