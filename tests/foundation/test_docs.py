"""The docs a newcomer is pointed to exist, and the contract page lists every message type."""

import re

from crmsync import contract
from tests.support import REPO


def test_every_message_type_is_documented():
    page = (REPO / "docs" / "event-contract.md").read_text()
    for message_type in contract.message_types():
        assert f"### `{message_type}`" in page, f"{message_type} is missing from docs/event-contract.md"


def test_readme_links_resolve():
    readme = (REPO / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#]+)\)", readme):
        if target.startswith("http"):
            continue
        assert (REPO / target).exists(), f"README links to {target}, which does not exist"
