"""The sandbox's e-mail rules beyond the recorded transcripts (suitecrm_sandbox/email.py): the switches
that turn the package's e-mail hook on or off, Leads and Accounts (no hook there), and the address check."""

from __future__ import annotations

import time

import pytest
import requests

from suitecrm_sandbox import email
from suitecrm_sandbox.testing import SandboxProcess
from tests.sandbox.test_behaviour import bearer, create


def _patched_email1(sandbox, module: str = "Contacts") -> str:
    headers = bearer(sandbox)
    names = {"name": "Hopper"} if module == "Accounts" else {"last_name": "Hopper"}
    record = create(sandbox, headers, module, **names, email1="a@example.invalid").json()
    patched = requests.patch(f"{sandbox.url}/Api/V8/module", headers=headers, timeout=10, json={
        "data": {"type": module, "id": record["data"]["id"], "attributes": {"email1": "b@example.invalid"}}})
    assert patched.status_code == 201
    return patched.json()["data"]["attributes"]["email1"]


@pytest.mark.parametrize(("bare", "args", "applied"), [
    (False, [], True),                              # the package's hook
    (False, ["--email1-patch-ignored"], False),     # a CRM whose package lacks the hook
    (True, [], False),                              # SuiteCRM 7.14.6 alone
    (True, ["--email1-patch-works"], True),
])
def test_switches(bare, args, applied):
    with SandboxProcess(bare=bare, extra_args=args) as sandbox:
        assert _patched_email1(sandbox) == ("b@example.invalid" if applied else "a@example.invalid")


def test_the_hook_is_on_contacts_only(sandbox):
    assert _patched_email1(sandbox, "Leads") == "a@example.invalid"
    assert _patched_email1(sandbox, "Accounts") == "a@example.invalid"


def test_flags_show_only_with_an_address(sandbox):
    headers = bearer(sandbox)
    without = create(sandbox, headers, "Accounts", name="No mail").json()["data"]["attributes"]
    with_address = create(sandbox, headers, "Accounts", name="Mail", email1="x@example.invalid").json()["data"]
    assert (without["email_opt_out"], without["invalid_email"]) == ("", "")
    assert (with_address["attributes"]["email_opt_out"], with_address["attributes"]["invalid_email"]) == ("0", "0")


@pytest.mark.parametrize(("value", "kept"), [
    ("a@example.invalid", "a@example.invalid"), ("o'brien+x@mail.example.org", "o'brien+x@mail.example.org"),
    ("a@10.0.0.1", "a@10.0.0.1"), ("a&amp;b@example.org", "a&b@example.org"), (" a@example.invalid", ""),
    ("not an address", ""), ("a@localhost", ""), ("jürgen@example.org", ""), ("", ""), (None, "")])
def test_what_suitecrm_keeps_of_a_written_address(value, kept):
    assert email.accepted(value) == kept


def test_written_with_the_hook():
    assert email.written("a@example.invalid", "A@EXAMPLE.INVALID", hook=True) is None
    assert email.written("a@example.invalid", " b@example.invalid ", hook=True) == "b@example.invalid"
    assert email.written("a@example.invalid", "  ", hook=True) == ""
    assert email.written("a@example.invalid", "nonsense", hook=True) is None
    assert email.written("a@example.invalid", None, hook=True) is None
    assert email.written("", "b@example.invalid", hook=False) == "b@example.invalid"
    assert email.written("a@example.invalid", "b@example.invalid", hook=False) is None


def test_the_address_check_cannot_be_made_to_hang():
    started = time.monotonic()
    assert email.accepted("a@" + "a-" * 5000 + "!") == ""
    assert email.accepted("a@" + "a." * 5000 + "!") == ""
    assert time.monotonic() - started < 2
