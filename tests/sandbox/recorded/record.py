"""Record the e-mail transcripts of this folder from a real SuiteCRM 7.14.6 (not run by pytest).

    SUITECRM_URL=http://127.0.0.1:PORT SUITECRM_CLIENT_ID=… SUITECRM_CLIENT_SECRET=… \
        python tests/sandbox/recorded/record.py package tests/sandbox/recorded/email1-package

A third argument `encoding` makes the few calls of `email1-encoding/` instead.

`package`: the CRM has this product's package installed (its before_save hook on Contacts);
`bare`: an unmodified SuiteCRM 7.14.6 with only the custom field `moodle_user_id_c` (varchar 36,
added through Studio), as the 61 shared transcripts were recorded. The same calls are made in
both; they create three Contacts with client-chosen ids, new for every run (SuiteCRM never reuses
an id). Tokens and the client secret are replaced by placeholders, and every datetime in an
answer by the minute of the run's first call, which is written to INDEX.tsv's first line.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

from crm_connector.crm_schema import load as load_schema

PACKAGE_VERSION = load_schema(Path(__file__).resolve().parents[3] / "crm_connector" / "crm_schema.yaml").package["version"]

JSON_API = "application/vnd.api+json"
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00$")


def calls(contact: str, bare_contact: str, third_contact: str) -> list[tuple[str, str, str, dict, dict | None, str]]:
    """(name, method, path, query, body, note) in order."""
    fields = {"fields[Contacts]": "first_name,last_name,email1"}

    def patch(record: str, attributes: dict) -> dict:
        return {"data": {"type": "Contacts", "id": record, "attributes": attributes}}

    return [
        ("token", "POST", "/Api/access_token", {}, None, ""),
        ("create_contact", "POST", "/Api/V8/module", {},
         {"data": {"type": "Contacts", "id": contact, "attributes": {
             "first_name": "Grace", "last_name": "Hopper", "email1": "a@example.invalid",
             "moodle_user_id_c": "501"}}}, ""),
        ("get_after_create", "GET", f"/Api/V8/module/Contacts/{contact}", fields, None, ""),
        ("patch_email1_change", "PATCH", "/Api/V8/module", {}, patch(contact, {"email1": "b@example.invalid"}),
         "a stored primary address a@…, email1 changed to b@…"),
        ("get_after_change", "GET", f"/Api/V8/module/Contacts/{contact}", fields, None, ""),
        ("filter_email1_new_address", "GET", "/Api/V8/module/Contacts",
         {"filter[email1][eq]": "b@example.invalid", **fields}, None, ""),
        ("filter_email1_old_address", "GET", "/Api/V8/module/Contacts",
         {"filter[email1][eq]": "a@example.invalid", **fields}, None, ""),
        ("patch_email1_case_only", "PATCH", "/Api/V8/module", {},
         patch(contact, {"email1": "B@EXAMPLE.INVALID"}), "email1 equal to the stored one but for case"),
        ("get_after_case_only", "GET", f"/Api/V8/module/Contacts/{contact}", fields, None, ""),
        ("patch_without_email1", "PATCH", "/Api/V8/module", {}, patch(contact, {"first_name": "Grace M."}),
         "a PATCH that does not name email1"),
        ("get_after_patch_without_email1", "GET", f"/Api/V8/module/Contacts/{contact}", fields, None, ""),
        ("patch_email1_blank", "PATCH", "/Api/V8/module", {}, patch(contact, {"email1": ""}),
         "what the anonymise policy sends"),
        ("get_after_blank", "GET", f"/Api/V8/module/Contacts/{contact}", fields, None, ""),
        ("patch_email1_after_blank", "PATCH", "/Api/V8/module", {}, patch(contact, {"email1": "c@example.invalid"}),
         ""),
        ("get_after_set_after_blank", "GET", f"/Api/V8/module/Contacts/{contact}", fields, None, ""),
        ("patch_email1_earlier_address", "PATCH", "/Api/V8/module", {}, patch(contact, {"email1": "b@example.invalid"}),
         "back to an address the Contact had before"),
        ("filter_email1_earlier_address", "GET", "/Api/V8/module/Contacts",
         {"filter[email1][eq]": "b@example.invalid", **fields}, None,
         "SuiteCRM's email1 filter matches every address ever linked to a record, once per link"),
        ("create_contact_without_email", "POST", "/Api/V8/module", {},
         {"data": {"type": "Contacts", "id": bare_contact, "attributes": {
             "first_name": "Katherine", "last_name": "Johnson", "moodle_user_id_c": "502"}}}, ""),
        ("patch_email1_no_stored_address", "PATCH", "/Api/V8/module", {},
         patch(bare_contact, {"email1": "d@example.invalid"}), "no address stored before"),
        ("get_after_patch_no_stored_address", "GET", f"/Api/V8/module/Contacts/{bare_contact}", fields, None, ""),
        ("create_contact_invalid_email", "POST", "/Api/V8/module", {},
         {"data": {"type": "Contacts", "id": third_contact, "attributes": {
             "first_name": "Dorothy", "last_name": "Vaughan", "email1": "not an address",
             "moodle_user_id_c": "503"}}}, "SuiteCRM drops an address its regex refuses"),
        ("patch_email1_padded_no_stored_address", "PATCH", "/Api/V8/module", {},
         patch(third_contact, {"email1": " e@example.invalid "}), "refused too: the check runs before trimming"),
        ("get_after_padded", "GET", f"/Api/V8/module/Contacts/{third_contact}", fields, None, ""),
    ]


def encoding_calls(first: str, second: str, third: str) -> list[tuple[str, str, str, dict, dict | None, str]]:
    """Addresses with characters SuiteCRM encodes elsewhere, and one its check refuses."""
    fields = {"fields[Contacts]": "first_name,last_name,email1"}

    def create(record: str, first_name: str, address: str) -> dict:
        return {"data": {"type": "Contacts", "id": record, "attributes": {
            "first_name": first_name, "last_name": "Encoding", "email1": address}}}

    return [
        ("token", "POST", "/Api/access_token", {}, None, ""),
        ("create_contact_apostrophe_plus", "POST", "/Api/V8/module", {},
         create(first, "Miles", "o'brien+x@mail.example.org"), "other values come back with ' as &#039;"),
        ("get_apostrophe_plus", "GET", f"/Api/V8/module/Contacts/{first}", fields, None, ""),
        ("create_contact_encoded_ampersand", "POST", "/Api/V8/module", {},
         create(second, "Amp", "a&amp;b@example.org"), "SuiteCRM decodes entities before its check"),
        ("get_encoded_ampersand", "GET", f"/Api/V8/module/Contacts/{second}", fields, None, ""),
        ("create_contact_non_ascii", "POST", "/Api/V8/module", {},
         create(third, "J\u00fcrgen", "j\u00fcrgen@example.org"), "its check knows only ASCII letters"),
    ]


def normalise(body, minute: str):
    if isinstance(body, dict):
        return {k: ("<jwt>" if k == "access_token" else normalise(v, minute)) for k, v in body.items()}
    if isinstance(body, list):
        return [normalise(v, minute) for v in body]
    if isinstance(body, str) and DATETIME.match(body):
        return minute
    return body


def record_calls(made: list[tuple[str, str, str, dict, dict | None, str]], out: Path, index: list[str],
                 minute: str, normalise_body) -> None:
    """Make the calls against SUITECRM_URL in order and write one transcript each (and a line of `index`)."""
    base = os.environ["SUITECRM_URL"].rstrip("/")
    client_id, secret = os.environ["SUITECRM_CLIENT_ID"], os.environ["SUITECRM_CLIENT_SECRET"]
    token = None
    for number, (name, method, path, query, body, note) in enumerate(made, start=1):
        if path.endswith("access_token"):
            headers = {"Accept": "application/json", "Content-Type": "application/json"}
            body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "<client-secret>"}
            sent = json.dumps(body).replace("<client-secret>", secret)
        else:
            headers = {"Accept": JSON_API, "Authorization": "Bearer <access-token>"}
            if body is not None:
                headers["Content-Type"] = JSON_API
            sent = json.dumps(body) if body is not None else None
        wire = {**headers, **({"Authorization": f"Bearer {token}"} if "Authorization" in headers else {})}
        response = requests.request(method, base + path, params=query, data=sent, headers=wire, timeout=60)
        if path.endswith("access_token"):
            token = response.json()["access_token"]
        try:
            answer = normalise_body(response.json(), minute)
        except ValueError:
            answer = response.text
        transcript = {"name": name, "request": {"method": method, "path": path, "query": query, "headers": headers,
                                                "body": body},
                      "response": {"status": response.status_code,
                                   "headers": {"content-type": response.headers.get("Content-Type")},
                                   "body": answer}}
        if note:
            transcript["note"] = note
        filename = f"{number:02d}_{name}.json"
        (out / filename).write_text(json.dumps(transcript, indent=2, ensure_ascii=False) + "\n")
        index.append(f"{filename}\t{method}\t{response.status_code}\t{path}")
        print(index[-1])


def main(mode: str, out: Path, scenario: str = "email1") -> None:
    out.mkdir(parents=True, exist_ok=True)
    minute = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:00+00:00")
    # The package installed is the one built from this tree's crm_schema.yaml; the replay serves that release.
    index = [f"# recorded {minute} against {mode}" + (f" {PACKAGE_VERSION}" if mode == "package" else "")]
    ids = [str(uuid.uuid4()) for _ in range(3)]
    made = encoding_calls(*ids) if scenario == "encoding" else calls(*ids)
    record_calls(made, out, index, minute, normalise)
    (out / "INDEX.tsv").write_text("\n".join(index) + "\n")


if __name__ == "__main__":
    if len(sys.argv) not in {3, 4} or sys.argv[1] not in {"bare", "package"} or sys.argv[3:] not in ([], ["encoding"]):
        sys.exit(__doc__)
    main(sys.argv[1], Path(sys.argv[2]), *sys.argv[3:])
