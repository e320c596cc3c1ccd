"""The Russian catalogue translates every message of the code and templates, and its compiled .mo is current."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

PACKAGE = Path(__file__).parents[2] / "registration"
CATALOGUE = PACKAGE / "translations" / "ru" / "LC_MESSAGES"


def _po():
    with open(CATALOGUE / "messages.po", "rb") as handle:
        return read_po(handle)


def test_every_message_has_a_russian_translation():
    method_map = [("**.py", "python"), ("templates/**.html", "jinja2"), ("templates/**.txt", "jinja2")]
    catalogue = _po()
    for _file, _line, message, _comments, _context in extract_from_dir(str(PACKAGE), method_map):
        msgid = message[0] if isinstance(message, tuple) else message
        entry = catalogue.get(msgid)
        assert entry is not None and all(entry.string if isinstance(entry.string, tuple) else [entry.string]), msgid


def test_the_compiled_catalogue_matches_the_po_file():
    compiled = BytesIO()
    write_mo(compiled, _po())
    with open(CATALOGUE / "messages.mo", "rb") as handle:
        shipped = read_mo(handle)
    fresh = read_mo(BytesIO(compiled.getvalue()))
    def entries(catalogue):
        return {str(m.id): str(m.string) for m in catalogue if m.id}

    assert entries(shipped) == entries(fresh), \
        "run: pybabel compile -d registration/translations"
