"""Every `crmsync` and `make` command the README and docs/ show exists with the options shown; the ones
that do not start a server are run, as a newcomer would copy them."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

CRMSYNC = str(Path(sys.executable).parent / "crmsync")
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SERVERS = {"serve", "worker", "sandbox", "moodle-sandbox", "run", "demo", "sandbox-dump",
           "registration serve"}  # started by the tests of each part
# Commands that need a Moodle and a SuiteCRM to talk to: run against the sandboxes by the tests of their part.
NEEDS_BOTH_SYSTEMS = {"reconcile"}
# Commands that need a mail server: run against the tests' SMTP server by the tests of their part.
NEEDS_SMTP = {"registration send-digests"}


def shown_commands() -> list[tuple[str, list[str]]]:
    """(page, argv after `crmsync`) for every crmsync command line in a fenced code block."""
    found = []
    for page in PAGES:
        in_code = False
        for line in page.read_text().splitlines():
            if line.startswith("```"):
                in_code = not in_code
                continue
            match = re.search(r"(?:^|\s|/)crmsync\s+([a-z][a-z-]*.*)$", line) if in_code else None
            if match:
                words = shlex.split(match.group(1).split(" #")[0])
                found.append((page.name, words))
    return found


def shown_make_targets() -> set[str]:
    targets = set()
    for page in PAGES:
        targets.update(re.findall(r"(?:^|`)make ([a-z-]+)", page.read_text(), re.M))
    return targets


COMMANDS = shown_commands()


def test_the_docs_show_commands_at_all():
    assert {words[0] for _, words in COMMANDS} >= {"migrate", "status", "replay", "purge", "erase"}


@pytest.mark.parametrize(("page", "words"), COMMANDS, ids=[f"{p}: {' '.join(w)}" for p, w in COMMANDS])
def test_shown_command_exists_with_its_options(page, words):
    checked = subprocess.run([CRMSYNC, *words, "--help"], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert checked.returncode == 0, f"{page} shows `crmsync {' '.join(words)}`: {checked.stderr}"


def test_shown_commands_that_start_no_server_run(tmp_path, redis_url):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'docs.db'}", "REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"}
    subprocess.run([CRMSYNC, "migrate"], capture_output=True, cwd=tmp_path, env=env, check=True)  # the guides' first step
    ran = 0
    for page, words in COMMANDS:
        if words[0] in SERVERS | NEEDS_BOTH_SYSTEMS or " ".join(words[:2]) in SERVERS | NEEDS_SMTP:
            continue
        result = subprocess.run([CRMSYNC, *words], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                                env=env)
        assert result.returncode == 0, f"{page}: `crmsync {' '.join(words)}` failed: {result.stderr[-2000:]}"
        assert "Traceback" not in result.stderr
        ran += 1
    assert ran >= 6


def test_shown_make_targets_exist():
    makefile = (REPO / "Makefile").read_text()
    for target in shown_make_targets():
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"the docs show `make {target}`"
