"""What a client of the sandbox sees beyond the recorded transcripts: grants, faults, persistence."""

from __future__ import annotations

import time

import pytest
import requests

from suitecrm_sandbox.testing import SandboxProcess


def token(sandbox, **body) -> requests.Response:
    return requests.post(f"{sandbox.url}/Api/access_token", json={
        "client_id": sandbox.client_id, "client_secret": sandbox.client_secret, **body}, timeout=5)


def bearer(sandbox) -> dict:
    return {"Authorization": f"Bearer {token(sandbox, grant_type='client_credentials').json()['access_token']}"}


def create(sandbox, headers, module="Contacts", **attributes) -> requests.Response:
    return requests.post(f"{sandbox.url}/Api/V8/module", json={"data": {"type": module, "attributes": attributes}},
                         headers=headers, timeout=10)


def test_password_grant_gives_a_refresh_token_that_rotates(sandbox):
    first = token(sandbox, grant_type="password", username=sandbox.username, password=sandbox.password).json()
    assert first["expires_in"] == 3600 and first["refresh_token"]
    refreshed = token(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert refreshed.status_code == 200
    again = token(sandbox, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 401  # a refresh token is used up by its first use
    wrong = token(sandbox, grant_type="password", username=sandbox.username, password="nope")
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


def test_revoked_and_logged_out_tokens_are_refused(sandbox):
    headers = bearer(sandbox)
    assert requests.get(f"{sandbox.url}/Api/V8/module/Contacts", headers=headers, timeout=5).status_code == 200
    requests.post(f"{sandbox.url}/Api/V8/logout", headers=headers, timeout=5)
    refused = requests.get(f"{sandbox.url}/Api/V8/module/Contacts", headers=headers, timeout=5)
    assert refused.status_code == 401 and refused.json()["hint"] == "Access token has been revoked"


def test_custom_module_quirks(sandbox):
    headers = bearer(sandbox)
    created = create(sandbox, headers, "mdl_Grades", name="g", grade="88.456", time_graded="2026-02-01T08:30:00+00:00",
                     moodle_item_id="abc").json()["data"]
    assert created["type"] == "mdl_Grades"
    attributes = created["attributes"]
    assert (attributes["grade"], attributes["time_graded"], attributes["moodle_item_id"]) == ("88.46", "", "0")


def test_seeded_errors_are_reproducible(sandbox):
    headers = bearer(sandbox)

    def statuses():
        sandbox.set_faults(error_rate=0.5, seed=42)
        return [requests.get(f"{sandbox.url}/Api/V8/module/Contacts", headers=headers, timeout=5).status_code
                for _ in range(20)]

    first, second = statuses(), statuses()
    sandbox.clear_faults()
    assert first == second
    assert set(first) - {200} <= {500, 502, 503} and 200 in first and len(set(first)) > 1


def test_throttling_says_when_to_come_back(sandbox):
    sandbox.set_faults(throttle_rate=1.0, retry_after_seconds=7)
    response = requests.get(f"{sandbox.url}/Api/V8/module/Contacts", timeout=5)
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"


def test_reset_connection_and_hang(sandbox):
    sandbox.set_faults(reset_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sandbox.url}/Api/V8/module/Contacts", timeout=5)
    sandbox.set_faults(hang_rate=1.0, hang_seconds=3)
    with pytest.raises(requests.Timeout):
        requests.get(f"{sandbox.url}/Api/V8/module/Contacts", timeout=0.5)


def test_database_failure_body_has_text_after_the_json(sandbox):
    sandbox.set_faults(db_failure_rate=1.0)
    response = requests.get(f"{sandbox.url}/Api/V8/module/Contacts", timeout=5)
    assert response.status_code == 400
    assert response.text.endswith("}Database failure. Please refer to suitecrm.log for details.")


def test_write_cap_serialises_writes(sandbox):
    headers = bearer(sandbox)
    sandbox.set_faults(write_rate=10)
    started = time.monotonic()
    for n in range(5):
        assert create(sandbox, headers, first_name=f"W{n}").status_code == 201
    # A lower bound only: five writes at 10/s cannot take less than 0.4 s between the first and the last.
    assert time.monotonic() - started >= 0.4


def test_records_survive_a_restart_with_a_file_database(tmp_path):
    database = str(tmp_path / "sandbox.db")
    with SandboxProcess(database=database) as first:
        create(first, bearer(first), first_name="Kept", last_name="Across")
    with SandboxProcess(database=database) as second:
        assert [r["first_name"] for r in second.records("Contacts")] == ["Kept"]


def test_leads_are_served(sandbox):
    lead = create(sandbox, bearer(sandbox), "Leads", first_name="Lee", last_name="Ad", status="New").json()["data"]
    assert (lead["type"], lead["attributes"]["full_name"], lead["attributes"]["status"]) == ("Lead", "Lee Ad", "New")


def test_a_preset_sets_the_speed_of_a_real_suitecrm_and_fault_changes_keep_it():
    with SandboxProcess(extra_args=["--preset", "search-index-on"]) as crm:
        faults = requests.get(f"{crm.url}/__sandbox/faults", timeout=5).json()
        assert (faults["write_rate"], faults["write_contention"]) == (13.0, 0.53)
        crm.set_faults(latency_ms=1)  # injected faults come and go; the CRM's speed stays
        assert crm.set_faults(latency_ms=1)["write_rate"] == 13.0
        assert crm.clear_faults()["write_rate"] == 13.0
    with SandboxProcess(extra_args=["--preset", "search-index-off"]) as crm:
        faults = requests.get(f"{crm.url}/__sandbox/faults", timeout=5).json()
        assert (faults["write_rate"], faults["write_contention"]) == (43.0, 0.0)


def test_the_search_index_preset_makes_parallel_writers_slower_in_total():
    from suitecrm_sandbox.faults import Faults

    faults = Faults()
    faults.configure({"preset": "search-index-on"})
    # As measured on the real 7.14.6: 13 writes/s one after another, about 5/s in total from four writers.
    assert 1 / faults.write_seconds(1) == 13.0
    assert 4.8 <= 1 / faults.write_seconds(4) <= 5.2
    faults.configure({"preset": "search-index-off"})
    assert 1 / faults.write_seconds(4) == 43.0

