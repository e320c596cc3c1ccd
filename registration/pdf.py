"""The printable declaration (PDF, fpdf2), set in DejaVu Sans so that any script (Cyrillic…) prints.

The font is Debian's fonts-dejavu-core (scripts/ensure-os-packages.sh installs it) in
REGISTRATION_FONT_DIR; without it the PDF is refused with FontMissing, which names the files looked for.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from crmsync.models import RegProgramme, RegRegistration
from registration.forms import Declaration, localised
from registration.registrations import CONSENTS_KEY

FONTS = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}


class FontMissing(RuntimeError):
    pass


def font_files(font_dir: str) -> dict[str, Path]:
    files = {style: Path(font_dir) / name for style, name in FONTS.items()}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise FontMissing(f"the PDF font is missing: {', '.join(missing)} (install Debian's fonts-dejavu-core or "
                          "set REGISTRATION_FONT_DIR)")
    return files


def _answer(field, value, language: str, gettext) -> str:
    if field.type == "checkbox":
        return gettext("Yes") if value else gettext("No")
    if field.type in ("select", "multiselect"):
        labels = dict(field.choices)
        values = value if isinstance(value, list) else [value]
        return ", ".join(localised(labels.get(v, v), language) for v in values if v)
    return str(value or "")


def declaration_pdf(font_dir: str, declaration: Declaration, registration: RegRegistration,
                    programme: RegProgramme, language: str, gettext) -> bytes:
    files = font_files(font_dir)
    document = FPDF(format="A4")
    document.set_title(gettext("Registration declaration"))
    for style, path in files.items():
        document.add_font("DejaVu", style, str(path))
    document.set_auto_page_break(True, margin=15)
    document.add_page()
    width = document.epw
    document.set_font("DejaVu", "B", 16)
    document.multi_cell(width, 8, localised(declaration.title, language) or gettext("Registration declaration"))
    document.ln(2)
    document.set_font("DejaVu", "", 11)
    for label, value in ((gettext("Project"), programme.project.name), (gettext("Programme"), programme.name),
                         (gettext("Reference"), registration.id),
                         (gettext("Submitted"), f"{registration.submitted_at:%Y-%m-%d %H:%M} UTC")):
        document.multi_cell(width, 6, f"{label}: {value}")
    document.ln(4)
    answers = registration.answers or {}
    for field in declaration.fields:
        if field.name not in answers and field.type != "checkbox":
            continue
        document.set_font("DejaVu", "B", 11)
        document.multi_cell(width, 6, localised(field.label, language))
        document.set_font("DejaVu", "", 11)
        document.multi_cell(width, 6, _answer(field, answers.get(field.name), language, gettext) or "—")
        document.ln(1)
    document.ln(3)
    document.set_font("DejaVu", "B", 11)
    document.multi_cell(width, 6, gettext("Consents (version %(version)s, given %(at)s UTC)",
                                          version=registration.consent_version,
                                          at=f"{registration.consent_at:%Y-%m-%d %H:%M}"))
    document.set_font("DejaVu", "", 10)
    given = set(answers.get(CONSENTS_KEY, []))
    for consent in declaration.consents:
        mark = "☑" if consent.name in given else "☐"
        document.multi_cell(width, 5, f"{mark} {localised(consent.text, language)}")
        document.ln(1)
    document.ln(12)
    document.set_font("DejaVu", "", 11)
    document.multi_cell(width, 6, gettext("Date and signature:") + " ______________________________")
    return bytes(document.output())
