"""Record the transcripts of `text-and-values/` from a real SuiteCRM 7.14.6 (not run by pytest).

    SUITECRM_URL=http://127.0.0.1:PORT SUITECRM_CLIENT_ID=… SUITECRM_CLIENT_SECRET=… \
        python tests/sandbox/recorded/record_text.py tests/sandbox/recorded/text-and-values

The CRM has this product's package installed (Module Loader, then Quick Repair and Rebuild and
Repair Roles). Every record gets a client-chosen id, new for each run, and the run's marker (a
short random string) in a plain field (`department` on Contacts, `moodle_site_id` on the mdl_
modules) that the list calls filter on. The calls, each create or PATCH followed by a GET:

- a: tag-like text (`<Course>`, `<early>`) in a Contact, an mdl_Courses and an mdl_Attendance;
- b: ways of writing `<` and `>` in a varchar and a text field (Contacts `title`/`description`,
  mdl_Courses `name`/`description`); `b_values.json` beside the transcripts maps each value to its
  records, for looking at them in the browser;
- c: a decimal PATCHed to `87.50`, then to `""` (and to null);
- d: `O'Neil & Co "quoted"` in names, varchar, custom varchar, text and relate fields, read one by
  one, in lists and through a relationship route;
- e: an mdl_Enrolments created with the relate-id attributes of a Contact and a course;
- f: datetimes with seconds, then a PATCH of another field;
- g: a few more: a list filter on such a value, padded text, emptied int/decimal/datetime.

Tokens and the client secret are replaced by placeholders, and every datetime in an answer by
the minute of the run's first call (written to INDEX.tsv's first line), as record.py does, except
the datetimes this recorder itself sends (on 2026-11-20 and 2026-12-20), which are the point of f.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from crm_connector.crm_schema import load as load_schema

sys.path.insert(0, str(Path(__file__).resolve().parent))
from record import record_calls  # noqa: E402 - the recorder beside this one

PACKAGE_VERSION = load_schema(Path(__file__).resolve().parents[3] / "crm_connector" / "crm_schema.yaml").package["version"]

JSON_API = "application/vnd.api+json"
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")
SENT_DATES = ("2026-11-20T", "2026-12-20T")

ONEIL = "O'Neil & Co \"quoted\""
B_VALUES = [
    "&lt;Course&gt;",
    "\u2039Course\u203a",
    "\uff1cCourse\uff1e",
    "< Course >",
    "a < b and c > d",
    "x<y",
    "<3",
    "<b>bold</b>",
    "5 &lt; 6",
    "<\u2060Course>",
    "<\u200bCourse>",
]
B_NOTES = [
    "entities", "single angle quotation marks U+2039/U+203A", "fullwidth U+FF1C/U+FF1E",
    "spaces inside", "comparison text", "no spaces", "heart", "a real tag", "an entity in text",
    "U+2060 WORD JOINER after <", "U+200B ZERO WIDTH SPACE after <",
]

CONTACT_FIELDS = ("first_name,last_name,name,full_name,title,department,description,primary_address_city,"
                  "account_name,account_id,moodle_username_c,moodle_site_c")


def calls(marker: str) -> tuple[list[tuple[str, str, str, dict, dict | None, str]], list[dict]]:
    """(name, method, path, query, body, note) in order, and the records of b."""
    new = lambda: str(uuid.uuid4())  # noqa: E731
    made: list[tuple[str, str, str, dict, dict | None, str]] = [("token", "POST", "/Api/access_token", {}, None, "")]
    contact_fields = {"fields[Contacts]": CONTACT_FIELDS}

    def add(name, method, path, query=None, body=None, note=""):
        made.append((name, method, path, query or {}, body, note))

    def create(name, module, record, attributes, note=""):
        add(f"create_{name}", "POST", "/Api/V8/module", body={"data": {"type": module, "id": record,
                                                                        "attributes": attributes}}, note=note)

    def get(name, module, record, note=""):
        add(f"get_{name}", "GET", f"/Api/V8/module/{module}/{record}",
            contact_fields if module == "Contacts" else {}, note=note)

    def patch(name, module, record, attributes, note=""):
        add(f"patch_{name}", "PATCH", "/Api/V8/module", body={"data": {"type": module, "id": record,
                                                                         "attributes": attributes}}, note=note)

    # a: tag-like text
    a_contact, a_course, a_attendance = new(), new(), new()
    create("contact_tags", "Contacts", a_contact, {
        "first_name": "Kill & Restart <Course> 7", "last_name": "Tags", "description": "arrived <early>",
        "department": marker}, "a: tag-like text in a name (varchar) and description (text)")
    get("contact_tags", "Contacts", a_contact)
    create("course_tags", "mdl_Courses", a_course, {
        "name": "Kill & Restart <Course> 7", "moodle_site_id": marker, "moodle_course_id": 9001},
        "a: tag-like text in the name")
    get("course_tags", "mdl_Courses", a_course)
    create("attendance_tags", "mdl_Attendance", a_attendance, {
        "name": "Attendance tags", "remarks": "arrived <early> & left", "moodle_site_id": marker},
        "a: tag-like text in remarks (text)")
    get("attendance_tags", "mdl_Attendance", a_attendance)

    # b: ways of writing < and >
    b_records = []
    for number, (value, what) in enumerate(zip(B_VALUES, B_NOTES, strict=True), start=1):
        contact, course = new(), new()
        b_records.append({"value": value, "what": what, "contact": contact, "course": course})
        create(f"contact_b{number:02d}", "Contacts", contact, {
            "first_name": f"B{number:02d}", "last_name": "Encoding", "title": value, "description": value,
            "department": marker}, f"b: {what}: {value!r} in title (varchar) and description (text)")
        get(f"contact_b{number:02d}", "Contacts", contact)
        create(f"course_b{number:02d}", "mdl_Courses", course, {
            "name": value, "description": value, "moodle_site_id": marker, "moodle_course_id": 9100 + number},
            f"b: {what}: {value!r} in name (name/varchar) and description (text)")
        get(f"course_b{number:02d}", "mdl_Courses", course)

    # c: decimal emptied
    c_enrolment, c_grade = new(), new()
    create("enrolment_decimal", "mdl_Enrolments", c_enrolment, {
        "name": "Decimal emptied", "moodle_site_id": marker, "moodle_user_id": 8001, "moodle_course_id": 9001,
        "status": "active"})
    patch("enrolment_final_grade_8750", "mdl_Enrolments", c_enrolment, {"final_grade": "87.50"}, "c")
    get("enrolment_final_grade_8750", "mdl_Enrolments", c_enrolment)
    patch("enrolment_final_grade_empty", "mdl_Enrolments", c_enrolment, {"final_grade": ""},
          "c: the decimal emptied with an empty string")
    get("enrolment_final_grade_empty", "mdl_Enrolments", c_enrolment)
    patch("enrolment_final_grade_8750_again", "mdl_Enrolments", c_enrolment, {"final_grade": "87.50"}, "c")
    patch("enrolment_final_grade_null", "mdl_Enrolments", c_enrolment, {"final_grade": None},
          "c: the decimal emptied with null")
    get("enrolment_final_grade_null", "mdl_Enrolments", c_enrolment)
    create("grade_decimal", "mdl_Grades", c_grade, {
        "name": "Decimal emptied", "moodle_site_id": marker, "moodle_user_id": 8001, "moodle_course_id": 9001,
        "moodle_item_id": 7001})
    patch("grade_grade_8750", "mdl_Grades", c_grade, {"grade": "87.50"}, "c")
    get("grade_grade_8750", "mdl_Grades", c_grade)
    patch("grade_grade_empty", "mdl_Grades", c_grade, {"grade": ""}, "c: the decimal emptied with an empty string")
    get("grade_grade_empty", "mdl_Grades", c_grade)

    # d: & ' " in every kind of field
    d_contact, d_course, d_enrolment = new(), new(), new()
    create("contact_oneil", "Contacts", d_contact, {
        "first_name": ONEIL, "last_name": ONEIL, "title": ONEIL, "primary_address_city": ONEIL,
        "moodle_username_c": ONEIL, "description": ONEIL, "account_name": ONEIL, "department": marker},
        "d: in name parts, varchar, custom varchar (moodle_username_c), text, and the account_name relate field")
    get("contact_oneil", "Contacts", d_contact)
    create("course_oneil", "mdl_Courses", d_course, {
        "name": ONEIL, "shortname": ONEIL, "idnumber": ONEIL, "description": ONEIL, "moodle_site_id": marker,
        "moodle_course_id": 9201}, "d: in name, varchar (shortname, idnumber) and text")
    get("course_oneil", "mdl_Courses", d_course)
    create("enrolment_oneil", "mdl_Enrolments", d_enrolment, {
        "name": ONEIL, "course_name": ONEIL, "roles": ONEIL, "groups_list": ONEIL, "description": ONEIL,
        "moodle_site_id": marker, "moodle_user_id": 8002, "moodle_course_id": 9201,
        "mdl_enrolments_contactscontacts_ida": d_contact, "mdl_enrolments_mdl_coursesmdl_courses_ida": d_course},
        "d: in name, varchar, text; related to the Contact and the course of d")
    get("enrolment_oneil", "mdl_Enrolments", d_enrolment)
    add("list_contacts_oneil", "GET", "/Api/V8/module/Contacts",
        {"filter[department][eq]": marker, "filter[last_name][eq]": ONEIL, "page[size]": "5", **contact_fields},
        note="d: the list route, filtered on the run marker and on the value itself")
    add("list_courses_oneil", "GET", "/Api/V8/module/mdl_Courses",
        {"filter[moodle_site_id][eq]": marker, "filter[moodle_course_id][eq]": "9201", "page[size]": "5"},
        note="d: the list route")
    add("list_enrolments_oneil", "GET", "/Api/V8/module/mdl_Enrolments",
        {"filter[moodle_site_id][eq]": marker, "filter[moodle_user_id][eq]": "8002", "page[size]": "5"},
        note="d: the list route")
    add("relationship_contact_enrolments_oneil", "GET",
        f"/Api/V8/module/Contacts/{d_contact}/relationships/mdl_enrolments_contacts",
        note="d: the relationship route from the Contact")
    add("relationship_enrolment_contact_oneil", "GET",
        f"/Api/V8/module/mdl_Enrolments/{d_enrolment}/relationships/mdl_enrolments_contacts",
        note="d: the relationship route from the enrolment")

    # e: related-name fields
    e_contact, e_enrolment = new(), new()
    create("contact_oneil_co", "Contacts", e_contact, {"last_name": "O'Neil & Co", "department": marker},
           "e: a Contact named O'Neil & Co (no first name)")
    get("contact_oneil_co", "Contacts", e_contact)
    create("enrolment_related", "mdl_Enrolments", e_enrolment, {
        "name": "Related names", "moodle_site_id": marker, "moodle_user_id": 8003, "moodle_course_id": 9201,
        "mdl_enrolments_contactscontacts_ida": e_contact, "mdl_enrolments_mdl_coursesmdl_courses_ida": d_course},
        "e: relate-id attributes of the Contact O'Neil & Co and of the course of d")
    get("enrolment_related", "mdl_Enrolments", e_enrolment, "e: the related-name fields")
    add("list_enrolments_related", "GET", "/Api/V8/module/mdl_Enrolments",
        {"filter[moodle_site_id][eq]": marker, "filter[moodle_user_id][eq]": "8003", "page[size]": "5"},
        note="e: the related-name fields in a list")
    add("relationship_contact_enrolments_related", "GET",
        f"/Api/V8/module/Contacts/{e_contact}/relationships/mdl_enrolments_contacts", note="e")

    # f: datetimes with seconds, then a PATCH of another field
    f_enrolment = new()
    create("enrolment_datetimes", "mdl_Enrolments", f_enrolment, {
        "name": "Datetimes", "moodle_site_id": marker, "moodle_user_id": 8004, "moodle_course_id": 9001,
        "status": "active", "time_start": "2026-11-20 09:15:42", "time_end": "2026-12-20 17:45:59"},
        "f: datetimes with seconds, in the format the connector writes")
    get("enrolment_datetimes", "mdl_Enrolments", f_enrolment)
    patch("enrolment_status_only", "mdl_Enrolments", f_enrolment, {"status": "suspended"},
          "f: a PATCH that names only status")
    get("enrolment_after_status_only", "mdl_Enrolments", f_enrolment, "f: are the seconds still there?")
    patch("enrolment_time_end_empty", "mdl_Enrolments", f_enrolment, {"time_end": ""}, "g: a datetime emptied")
    get("enrolment_after_time_end_empty", "mdl_Enrolments", f_enrolment)

    # g: more
    g_contact = new()
    create("contact_padded", "Contacts", g_contact, {
        "first_name": "  Padded  ", "last_name": "Spaces", "title": "  padded title  ",
        "description": "  padded text  ", "department": marker}, "g: leading and trailing spaces")
    get("contact_padded", "Contacts", g_contact)
    add("list_contacts_filter_encoded_value", "GET", "/Api/V8/module/Contacts",
        {"filter[department][eq]": marker, "filter[last_name][eq]": "O&#039;Neil & Co &quot;quoted&quot;",
         "page[size]": "5", **contact_fields},
        note="g: filtering on the value in the encoded form V8 answers with")
    patch("enrolment_int_decimal_empty", "mdl_Enrolments", c_enrolment, {"progress": "", "moodle_course_id": ""},
          "g: an int and a decimal emptied")
    get("enrolment_int_decimal_empty", "mdl_Enrolments", c_enrolment)
    return made, b_records


def normalise(body, minute: str):
    if isinstance(body, dict):
        return {k: ("<jwt>" if k == "access_token" else normalise(v, minute)) for k, v in body.items()}
    if isinstance(body, list):
        return [normalise(v, minute) for v in body]
    if isinstance(body, str) and DATETIME.match(body) and not body.startswith(SENT_DATES):
        return minute
    return body


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    minute = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:00+00:00")
    marker = "text-" + uuid.uuid4().hex[:8]
    # The package installed is the one built from this tree's crm_schema.yaml; the replay serves that release.
    index = [f"# recorded {minute} against package {PACKAGE_VERSION} (run marker {marker})"]
    made, b_records = calls(marker)
    record_calls(made, out, index, minute, normalise)
    (out / "INDEX.tsv").write_text("\n".join(index) + "\n")
    (out / "b_values.json").write_text(json.dumps(b_records, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(Path(sys.argv[1]))
