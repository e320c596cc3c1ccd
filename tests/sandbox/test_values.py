"""Values as a real SuiteCRM 7.14.6 keeps them after a write (tests/sandbox/recorded/text-and-values/
is the recording; these check the same rules through the paths the connector uses)."""

from __future__ import annotations

import requests

from tests.sandbox.test_behaviour import bearer, create


def _patch(sandbox, headers, module: str, record_id: str, **attributes) -> dict:
    response = requests.patch(f"{sandbox.url}/Api/V8/module", headers=headers, timeout=10, json={
        "data": {"type": module, "id": record_id, "attributes": attributes}})
    assert response.status_code == 201, response.text
    return response.json()["data"]["attributes"]


def _list(sandbox, headers, module: str, **filters) -> list[dict]:
    params = {f"filter[{field}][eq]": value for field, value in filters.items()}
    response = requests.get(f"{sandbox.url}/Api/V8/module/{module}", params=params, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_tag_like_text_is_stripped_and_ampersands_come_back_as_written(sandbox):
    headers = bearer(sandbox)
    contact = create(sandbox, headers, first_name="Kill & Restart <Course> 7", last_name="O'Neil",
                     moodle_username_c="a & b").json()["data"]["attributes"]
    assert (contact["first_name"], contact["last_name"]) == ("Kill & Restart  7", "O&#039;Neil")
    assert contact["moodle_username_c"] == "a &amp; b"  # a custom field is decoded once less


def test_an_emptied_number_reads_back_empty_and_a_null_changes_nothing(sandbox):
    headers = bearer(sandbox)
    grade = create(sandbox, headers, "mdl_Enrolments", name="e", final_grade="87.5", moodle_user_id="7").json()
    record_id = grade["data"]["id"]
    assert _patch(sandbox, headers, "mdl_Enrolments", record_id, final_grade=None)["final_grade"] == "87.50"
    emptied = _patch(sandbox, headers, "mdl_Enrolments", record_id, final_grade="", moodle_user_id="")
    assert (emptied["final_grade"], emptied["moodle_user_id"]) == ("", "")


def test_an_update_drops_the_seconds_of_the_other_datetimes(sandbox):
    headers = bearer(sandbox)
    record_id = create(sandbox, headers, "mdl_Enrolments", name="e", moodle_site_id="S",
                       time_start="2026-11-20 09:15:42", time_end="2026-12-20 17:45:59").json()["data"]["id"]
    assert len(_list(sandbox, headers, "mdl_Enrolments", time_start="2026-11-20 09:15:42")) == 1
    _patch(sandbox, headers, "mdl_Enrolments", record_id, status="suspended", time_end="2026-12-21 08:00:07")
    assert _list(sandbox, headers, "mdl_Enrolments", time_start="2026-11-20 09:15:42") == []
    assert len(_list(sandbox, headers, "mdl_Enrolments", time_start="2026-11-20 09:15:00")) == 1
    assert len(_list(sandbox, headers, "mdl_Enrolments", time_end="2026-12-21 08:00:07")) == 1  # the written one


def test_related_names_are_encoded_once(sandbox):
    headers = bearer(sandbox)
    contact = create(sandbox, headers, first_name="O'Neil", last_name="& Co").json()["data"]["id"]
    course = create(sandbox, headers, "mdl_Courses", name='"Intro" <b>1</b>', moodle_course_id="1").json()["data"]["id"]
    enrolment = create(sandbox, headers, "mdl_Enrolments", name="e", mdl_enrolments_contactscontacts_ida=contact,
                       mdl_enrolments_mdl_coursesmdl_courses_ida=course).json()["data"]["attributes"]
    assert enrolment["mdl_enrolments_contacts_name"] == "O&#039;Neil & Co"
    assert enrolment["mdl_enrolments_mdl_courses_name"] == "&quot;Intro&quot; &lt;b&gt;1&lt;/b&gt;"


def test_two_filters_are_both_applied(sandbox):
    headers = bearer(sandbox)
    for site, user in (("A", "3"), ("B", "3"), ("A", "4")):
        create(sandbox, headers, last_name=f"{site}{user}", moodle_site_id_c=site, moodle_user_id_c=user)
        create(sandbox, headers, "mdl_Consents", name=f"{site}{user}", moodle_site_id=site, moodle_user_id=user)
    assert [c["attributes"]["last_name"] for c in _list(sandbox, headers, "Contacts", moodle_site_id_c="A",
                                                        moodle_user_id_c="3")] == ["A3"]
    assert [c["attributes"]["name"] for c in _list(sandbox, headers, "mdl_Consents", moodle_site_id="A",
                                                   moodle_user_id="3")] == ["A3"]
    # A filter value is entity-decoded, so the encoded form a read gave finds the record too.
    assert len(_list(sandbox, headers, "Contacts", last_name="A3", moodle_site_id_c="&#65;")) == 1


def test_the_new_modules_and_their_relationships(sandbox):
    headers = bearer(sandbox)
    contact = create(sandbox, headers, last_name="Learner").json()["data"]["id"]
    course = create(sandbox, headers, "mdl_Courses", name="C", moodle_course_id="5").json()["data"]["id"]
    consent = create(sandbox, headers, "mdl_Consents", name="Policy v2", status="declined",
                     mdl_consents_contactscontacts_ida=contact).json()["data"]
    activity = create(sandbox, headers, "mdl_Activities", name="Quiz 1", pass_rate="66.666",
                      mdl_activities_mdl_coursesmdl_courses_ida=course).json()["data"]
    assert (consent["type"], consent["attributes"]["status"], consent["attributes"]["optional"]) == (
        "mdl_Consents", "declined", "0")
    assert (activity["attributes"]["pass_rate"], activity["attributes"]["mdl_activities_mdl_courses_name"]) == (
        "66.67", "C")
    for module, record, link, child in (("Contacts", contact, "mdl_consents_contacts", consent["id"]),
                                        ("mdl_Courses", course, "mdl_activities_mdl_courses", activity["id"])):
        related = requests.get(f"{sandbox.url}/Api/V8/module/{module}/{record}/relationships/{link}",
                               headers=headers, timeout=10).json()["data"]
        assert [r["id"] for r in related] == [child]
