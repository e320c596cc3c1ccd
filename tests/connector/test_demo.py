"""`crmsync demo` shows what reached the CRM by reading it as any SuiteCRM is read: the V8 API."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.connector.conftest import user
from tests.support import REPO


def test_the_demo_code_reads_no_sandbox_only_url():
    for path in ("crm_connector/demo.py", "crm_connector/commands.py"):
        assert "__sandbox" not in (REPO / path).read_text(), path


def test_the_demo_prints_the_records_of_its_own_site_through_the_v8_api(pipeline, sandbox):
    pipeline.send(pipeline.message("user.created", "user:3", user(3, "Other-site")))  # same user id, another site
    worker = subprocess.Popen([sys.executable, "-m", "crmsync", "worker"], env=pipeline.env, cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = time.monotonic()
    try:
        demo = subprocess.run([sys.executable, "-m", "crmsync", "demo", "--url", pipeline.url, "--secret",
                               pipeline.secret, "--wait", "120"], env=pipeline.env, cwd=REPO, capture_output=True,
                              text=True, timeout=180)
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    assert demo.returncode == 0, demo.stderr[-3000:]
    assert time.monotonic() - started < 100  # it saw the records arrive instead of waiting out --wait
    out = demo.stdout
    for module in ("Contacts", "mdl_Enrolments", "mdl_Grades", "mdl_Attendance"):
        assert f"\n{module}: 3 records" in out, out
    assert "\nmdl_Completions: 6 records" in out, out
    assert "first_name=Alice" in out and "Other-site" not in out
    assert "course_name=CRM Sync Test Course" in out and "accessed=accessed" in out
