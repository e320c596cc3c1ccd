"""Languages of the pages (English, Russian): chosen by the switcher (kept in the session), else by
Accept-Language. Catalogues: registration/translations (docs/registration.md "Translations")."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, request, session
from flask_babel import Babel, get_locale

LANGUAGES = ("en", "ru")
NAMES = {"en": "English", "ru": "Русский"}
TRANSLATIONS = Path(__file__).with_name("translations")


def select_language() -> str:
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "en"


def language() -> str:
    return str(get_locale() or "en")


def init_app(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app, locale_selector=select_language)
    app.jinja_env.globals.update(LANGUAGES=LANGUAGES, LANGUAGE_NAMES=NAMES, current_language=language)
