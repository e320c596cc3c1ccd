"""Derive the sandbox's standard-module definitions from the recorded SuiteCRM 7.14.6 transcripts.

Run from the repository root with ../shared beside it:
    .venv/bin/python scripts/extract_sandbox_data.py
It rewrites suitecrm_sandbox/data/standard.json: the field metadata, the attribute order and empty
values, and the relationship links of the standard modules exactly as the real server sent them.
"""

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "suitecrm-v8-7.14.6"
OUT = Path(__file__).resolve().parents[1] / "suitecrm_sandbox" / "data" / "standard.json"


def response(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())["response"]["body"]


def record_shape(record: dict, set_by_request: dict) -> dict:
    """Attribute order with the value an empty record shows; link names of the relationships block."""
    empty = {}
    for name, value in record["attributes"].items():
        empty[name] = "" if name in set_by_request or name in {"name", "full_name", "date_entered", "date_modified"} else value
    links = {module: spec["links"]["related"].rsplit("/", 1)[1] for module, spec in record["relationships"].items()}
    return {"type": record["type"], "attributes": empty, "relationships": links}


def main() -> None:
    contact_request = json.loads((FIXTURES / "17_get_by_id.json").read_text())
    contact = response("17_get_by_id.json")["data"]
    account = response("38_create_account.json")["data"]
    set_on_contact = {"first_name", "last_name", "email1", "moodle_user_id_c", "do_not_call"}
    data = {
        "source": "recorded from SuiteCRM 7.14.6 (see ../shared/fixtures/suitecrm-v8-7.14.6)",
        "meta_modules": response("53_meta_modules.json")["data"]["attributes"],
        "modules": {
            "Contacts": {**record_shape(contact, set_on_contact),
                         "fields": response("54_meta_fields_contacts.json")["data"]["attributes"]},
            "Accounts": {**record_shape(account, {"name"}), "fields": None},
        },
    }
    data["modules"]["Contacts"]["attributes"]["do_not_call"] = "0"
    # Values the recorded Contact had because of the requests, not defaults.
    for name in ("modified_user_id", "modified_by_name", "created_by", "created_by_name"):
        data["modules"]["Contacts"]["attributes"][name] = contact["attributes"][name]
    assert contact_request["request"]["method"] == "GET"
    OUT.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"wrote {OUT.relative_to(Path.cwd())}")


if __name__ == "__main__":
    main()
