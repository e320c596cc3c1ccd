"""The registration pages in a real browser: Debian's Chromium driven by playwright-core (the Node script
browser/registration.mjs) against the service over HTTP, the mails read from the test's SMTP server.

`make test` installs the script's node_modules (npm ci) and Chromium (scripts/ensure-os-packages.sh).
REGISTRATION_SCREENSHOTS=docs/img makes the run refresh the screenshots of docs/registration.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.registration.conftest import STAFF_TOKEN

SCRIPT_DIR = Path(__file__).with_name("browser")


def test_register_confirm_prefill_and_full_programme_in_chromium(service, tmp_path):
    node, chromium = shutil.which("node"), Path("/usr/bin/chromium")
    if node is None or not chromium.exists() or not (SCRIPT_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("the browser test needs node, /usr/bin/chromium and `npm ci --prefix tests/registration/browser` "
                    "(make test installs them)")
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    service.inbox.folder = mail_dir
    shots = Path(os.environ.get("REGISTRATION_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([node, str(SCRIPT_DIR / "registration.mjs"), service.url, str(mail_dir), str(shots),
                             STAFF_TOKEN], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "browser test passed" in result.stdout
    assert {p.name for p in shots.glob("registration-*.png")} >= {
        "registration-index.png", "registration-errors.png", "registration-prefilled.png",
        "registration-full.png", "registration-dashboard.png"}
