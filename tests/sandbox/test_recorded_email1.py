"""What the e-mail transcripts recorded from a real SuiteCRM 7.14.6 show (tests/sandbox/recorded/README.md),
bare and with the package, whose before_save hook makes a written email1 take effect; test_recorded.py
replays them."""

from __future__ import annotations

from tests.sandbox.test_recorded import load, replayed


def _call(transcript: dict) -> tuple:
    """What a call asked, without the record ids (new for every recording)."""
    body = transcript["request"]["body"] or {}
    attributes = body.get("data", {}).get("attributes") if isinstance(body.get("data"), dict) else body
    return transcript["file"], transcript["request"]["method"], transcript["request"]["query"], attributes


def test_both_sets_make_the_same_calls():
    bare, package = (load(folder).transcripts for folder in ("email1-bare", "email1-package"))
    assert [_call(t) for t in bare] == [_call(t) for t in package]


def _email1_after(folder: str, name: str) -> str:
    [(_, _, (_, _, body))] = [r for r in replayed(folder) if r[0] == name]
    return body["data"]["attributes"]["email1"]


def test_with_the_package_a_patched_email1_takes_effect():
    assert _email1_after("email1-package", "05_get_after_change.json") == "b@example.invalid"
    assert _email1_after("email1-package", "13_get_after_blank.json") == ""
    # SuiteCRM alone ignores it.
    assert _email1_after("email1-bare", "05_get_after_change.json") == "a@example.invalid"
    assert _email1_after("email1-bare", "13_get_after_blank.json") == "a@example.invalid"
