"""How SuiteCRM 7.14.6 stores a record's `email1`, with and without the package's e-mail hook.

The address lives in email_addresses/email_addr_bean_rel, not on the record. Recorded from a real
SuiteCRM (tests/sandbox/recorded/): on create, and on a PATCH of a record that has no address, it
keeps email1 if SugarEmailAddress's regex accepts it (checked before trimming) and drops it
otherwise; a PATCH of a record that has an address ignores email1, unless the package's before_save
hook on Contacts is installed: then another address (case-insensitively) replaces it and a blank one
removes it. The V8 filter on email1 matches every address ever linked to a record, once per link.
"""

from __future__ import annotations

import html
import re

# SugarEmailAddress::$regex of SuiteCRM 7.14.6 (ASCII \w, as PHP's PCRE without /u). Its domain part
# `\w+(?:[.-]*\w+)*` is written as the equivalent `\w(?:[\w.-]*\w)?`, which cannot backtrack
# exponentially.
ADDRESS = re.compile(r"^['.\-+&#!$*=?^_`{}~/\w]+@(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}|"
                     r"\w(?:[\w.-]*\w)?(?:\.[\w-]{2,})+)$", re.ASCII)
HOOK_MODULES = {"Contacts"}  # where the package's before_save hook is registered


def accepted(value: object) -> str:
    """The address SuiteCRM's own save keeps for a written email1 ("" when it keeps none)."""
    if value is None:
        return ""
    text = html.unescape(str(value))
    return text.strip() if ADDRESS.match(text) else ""


def written(stored: str, value: object, hook: bool) -> str | None:
    """The record's email1 after a PATCH that names it, or None when it stays as stored."""
    if value is None:
        return None
    if not stored:
        return accepted(value) or None
    if not hook:
        return None  # SuiteCRM 7.14.6 alone ignores it (handleLegacySave reads email1 only without addresses)
    wanted = html.unescape(str(value)).strip()
    if wanted.upper() == stored.upper():
        return None
    if not wanted:
        return ""
    return wanted if ADDRESS.match(wanted) else None
