"""A Moodle user is (site, user id): two Moodle sites on one CRM share user ids, never a Contact's identity."""

from __future__ import annotations

import requests

from tests.connector.conftest import SITE, enrolment, user

OTHER_SITE = {"id": "other-site", "url": "http://moodle-b.test"}


def from_site(message: dict, site: dict) -> dict:
    return {**message, "site": site}


def contacts_of(sandbox, uid: int) -> dict[str, dict]:
    """The Contacts of Moodle user `uid`, by the site they belong to."""
    found = [r for r in sandbox.records("Contacts") if r.get("moodle_user_id_c") == str(uid)]
    by_site = {r["moodle_site_id_c"]: r for r in found}
    assert len(by_site) == len(found), f"two Contacts of user {uid} on one site: {found}"
    return by_site


def crm_post(sandbox, module: str, attributes: dict) -> str:
    token = requests.post(f"{sandbox.url}/Api/access_token", timeout=5, json={
        "grant_type": "client_credentials", "client_id": sandbox.client_id,
        "client_secret": sandbox.client_secret}).json()["access_token"]
    answer = requests.post(f"{sandbox.url}/Api/V8/module", timeout=5, headers={"Authorization": f"Bearer {token}"},
                           json={"data": {"type": module, "attributes": attributes}})
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]["id"]


def grade(uid: int, value: float) -> dict:
    return {"userid": uid, "courseid": 2, "itemid": 1, "finalgrade": value, "percentage": value, "passed": None,
            "deleted": False, "timemodified": 1795351200,
            "item": {"itemtype": "mod", "itemmodule": "assign", "cmid": 4, "itemname": "Essay", "grademax": 100.0,
                     "grademin": 0.0, "gradepass": 0.0}}


def test_the_same_user_id_on_two_sites_is_two_learners_and_a_deletion_on_one_leaves_the_other(pipeline, sandbox):
    pipeline.send(
        pipeline.message("user.created", "user:35", user(35, "Alice")),
        pipeline.message("enrolment.created", "enrolment:35:2", enrolment(35)),
        pipeline.message("grade.updated", "grade:35:1", grade(35, 40.0)),
        from_site(pipeline.message("user.created", "user:35", user(35, "Bob", username="bob")), OTHER_SITE),
        from_site(pipeline.message("enrolment.created", "enrolment:35:2", enrolment(35)), OTHER_SITE),
        from_site(pipeline.message("grade.updated", "grade:35:1", grade(35, 90.0)), OTHER_SITE),
    )
    pipeline.drain()

    contacts = contacts_of(sandbox, 35)
    assert set(contacts) == {SITE["id"], OTHER_SITE["id"]}
    alice, bob = contacts[SITE["id"]], contacts[OTHER_SITE["id"]]
    assert (alice["first_name"], alice["moodle_username_c"], alice["moodle_site_c"]) == (
        "Alice", "student35", SITE["url"])
    assert (bob["first_name"], bob["moodle_username_c"], bob["moodle_site_c"]) == ("Bob", "bob", OTHER_SITE["url"])
    enrolments = {r["moodle_site_id"]: r for r in sandbox.records("mdl_Enrolments")}
    assert len(enrolments) == 2  # one enrolment each, not two on one person
    grades = {r["moodle_site_id"]: r for r in sandbox.records("mdl_Grades")}
    for site, contact in contacts.items():
        assert enrolments[site]["mdl_enrolments_contactscontacts_ida"] == contact["id"]
        assert grades[site]["mdl_grades_contactscontacts_ida"] == contact["id"]
    assert (grades[SITE["id"]]["grade"], grades[OTHER_SITE["id"]]["grade"]) == ("40.00", "90.00")

    pipeline.send(from_site(pipeline.message("user.deleted", "user:35", {"id": 35, "deleted": True}), OTHER_SITE))
    pipeline.drain(env={"USER_DELETION_POLICY": "delete"})

    assert set(contacts_of(sandbox, 35)) == {SITE["id"]}
    assert contacts_of(sandbox, 35)[SITE["id"]]["first_name"] == "Alice"
    assert {e.status for e in pipeline.events()} == {"applied"}


def test_an_email_match_links_another_sites_learner_and_never_takes_over_its_identity(pipeline, sandbox):
    match = {"CONTACT_MATCH_BY_EMAIL": "true", "USER_DELETION_POLICY": "anonymise"}
    same = "ann@example.invalid"
    pipeline.send(pipeline.message("user.created", "user:36", user(36, "Ann", email=same, lastaccess=1795340000)))
    pipeline.drain(env=match)
    owner = contacts_of(sandbox, 36)[SITE["id"]]
    pipeline.send(
        from_site(pipeline.message("user.created", "user:41", user(41, "Annie", email=same, username="annie",
                                                                    suspended=True, lastaccess=1795350000)),
                  OTHER_SITE),
        from_site(pipeline.message("enrolment.created", "enrolment:41:2", enrolment(41)), OTHER_SITE),
        from_site(pipeline.message("course_access.updated", "course_access:41:2",
                                   {"userid": 41, "courseid": 2, "lastaccess": 1795351200}), OTHER_SITE),
    )
    pipeline.drain(env=match)

    contacts = sandbox.records("Contacts")
    assert [c["id"] for c in contacts] == [owner["id"]]  # the same person: one Contact
    linked = contacts[0]
    identity = ("moodle_site_id_c", "moodle_user_id_c", "moodle_site_c", "moodle_username_c", "moodle_status_c",
                "moodle_last_access_c", "first_name")
    assert {f: linked[f] for f in identity} == {f: owner[f] for f in identity}
    assert sandbox.records("mdl_Enrolments")[0]["mdl_enrolments_contactscontacts_ida"] == owner["id"]

    sandbox.clear_calls()
    pipeline.send(from_site(pipeline.message("user.deleted", "user:41", {"id": 41, "deleted": True}), OTHER_SITE))
    pipeline.drain(env=match)
    assert pipeline.writes("Contacts") == 0  # the other site let go of the Contact without touching it
    later = from_site(pipeline.message("grade.updated", "grade:41:1", grade(41, 70.0)), OTHER_SITE)
    pipeline.send(later, pipeline.message("user.updated", "user:36", user(36, "Ann Marie", email=same)))
    pipeline.drain(env=match)

    kept = contacts_of(sandbox, 36)[SITE["id"]]
    assert (kept["id"], kept["first_name"], kept["email1"], kept["moodle_status_c"]) == (
        owner["id"], "Ann Marie", same, "active")
    assert sandbox.records("mdl_Grades") == []  # an unlinked learner's records attach to nobody
    assert pipeline.status_of(later) == "skipped"


def test_a_contact_written_before_sites_had_ids_is_claimed_by_its_own_site(pipeline, sandbox):
    elsewhere = crm_post(sandbox, "Contacts", {"first_name": "Other", "last_name": "Site", "moodle_user_id_c": "37",
                                               "moodle_site_c": OTHER_SITE["url"]})
    legacy = crm_post(sandbox, "Contacts", {"first_name": "Old", "last_name": "Record", "moodle_user_id_c": "37",
                                            "moodle_site_c": SITE["url"]})
    pipeline.send(pipeline.message("enrolment.created", "enrolment:37:2", enrolment(37)),
                  pipeline.message("user.updated", "user:37", user(37, "Carla")))
    pipeline.drain()

    contacts = {c["id"]: c for c in sandbox.records("Contacts")}
    assert set(contacts) == {elsewhere, legacy}
    assert (contacts[legacy]["first_name"], contacts[legacy]["moodle_site_id_c"]) == ("Carla", SITE["id"])
    assert (contacts[elsewhere]["first_name"], contacts[elsewhere]["moodle_site_id_c"]) == ("Other", "")
    assert sandbox.records("mdl_Enrolments")[0]["mdl_enrolments_contactscontacts_ida"] == legacy


def test_the_deletion_of_a_learner_the_crm_never_held_makes_no_contact(pipeline, sandbox):
    """Seen on a real run: users created and deleted before any delivery left 17 blank, deleted Contacts."""
    pipeline.send(pipeline.message("user.deleted", "user:44", {"id": 44, "deleted": True}))
    pipeline.drain()
    later = pipeline.message("enrolment.deleted", "enrolment:44:2", enrolment(44, status="deleted"))
    pipeline.send(later)
    pipeline.drain()
    assert sandbox.records("Contacts") == []
    assert sandbox.records("mdl_Enrolments") == []
    assert pipeline.status_of(later) == "skipped"  # not waiting for a Contact that will never come
