"""The sandbox serves what the package installs: the current crm_schema.yaml, or an earlier release
for a CRM that still has it (`--package-version`), and answers V8 calls on those fields and modules."""

from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from crm_connector import crm_schema
from suitecrm_sandbox.modules import RELEASED_PACKAGES
from suitecrm_sandbox.testing import SandboxProcess
from tests.sandbox.test_behaviour import bearer


def _contact_fields(sandbox) -> set[str]:
    meta = requests.get(f"{sandbox.url}/Api/V8/meta/fields/Contacts", headers=bearer(sandbox), timeout=10).json()
    return set(meta["data"]["attributes"])


def _modules(sandbox) -> set[str]:
    meta = requests.get(f"{sandbox.url}/Api/V8/meta/modules", headers=bearer(sandbox), timeout=10).json()
    return set(meta["data"]["attributes"])


def test_an_earlier_release_is_served_as_it_was():
    with SandboxProcess(package_version="1.0.0") as old, SandboxProcess() as current:
        assert "moodle_user_id_c" in _contact_fields(old) and "moodle_site_id_c" not in _contact_fields(old)
        assert "moodle_site_id_c" in _contact_fields(current)
        assert "mdl_Enrolments" in _modules(old) and "mdl_Consents" not in _modules(old)
        assert {"mdl_Activities", "mdl_Consents"} <= _modules(current)


def test_each_frozen_release_is_the_version_it_is_named_after():
    for path in RELEASED_PACKAGES.glob("*.yaml"):
        assert crm_schema.load(path).package["version"] == path.stem
    assert not (RELEASED_PACKAGES / f"{crm_schema.load().package['version']}.yaml").exists()  # that is crm_schema.yaml


@pytest.mark.parametrize(("args", "message"), [
    (["--package-version", "0.9.0"], "no package version '0.9.0' is known (known: 1.0.0, "),
    (["--bare", "--package-version", "1.0.0"], "--package-version names the package, which --bare leaves out"),
])
def test_a_package_version_it_cannot_serve_is_refused(args, message):
    run = subprocess.run([sys.executable, "-m", "crmsync", "sandbox", "--bind", "127.0.0.1:1", *args],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and message in run.stderr


def test_a_programmes_courses_relate_many_to_many_from_either_side_and_a_deletion_takes_its_links(sandbox):
    """crm_schema.yaml's many-to-many (mdl_programmes_mdl_courses): a course in two programmes, a programme with
    two courses, related from either record, listed from either, with no relate field on either."""
    from crm_connector.suitecrm import SuiteCrmClient

    crm = SuiteCrmClient(sandbox.url, sandbox.client_id, sandbox.client_secret, timeout=10)
    link = crm_schema.load().relationship("mdl_Programmes", "mdl_Courses").link
    first, second = (crm.create("mdl_Programmes", {"name": name})["id"] for name in ("First", "Second"))
    course_a, course_b = (crm.create("mdl_Courses", {"name": name, "moodle_course_id": n})["id"]
                          for n, name in ((2, "A"), (3, "B")))
    crm.request("POST", f"module/mdl_Programmes/{first}/relationships/{link}",
                body={"data": {"type": "mdl_Courses", "id": course_a}})
    crm.request("POST", f"module/mdl_Programmes/{first}/relationships/{link}",
                body={"data": {"type": "mdl_Courses", "id": course_b}})
    crm.request("POST", f"module/mdl_Courses/{course_a}/relationships/{link}",
                body={"data": {"type": "mdl_Programmes", "id": second}})
    assert {c["name"] for c in crm.related("mdl_Programmes", first, link)} == {"A", "B"}
    assert {p["name"] for p in crm.related("mdl_Courses", course_a, link)} == {"First", "Second"}
    assert {p["name"] for p in crm.related("mdl_Courses", course_b, link)} == {"First"}
    assert "mdl_programmes_mdl_coursesmdl_programmes_ida" not in crm.get("mdl_Courses", course_a)
    crm.delete("mdl_Programmes", first)
    assert {p["name"] for p in crm.related("mdl_Courses", course_a, link)} == {"Second"}
    assert list(crm.related("mdl_Courses", course_b, link)) == []
