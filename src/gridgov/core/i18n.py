"""Console translations: one gettext catalogue per locale, read from the .po files in gridgov/web/i18n.

Message ids are the English texts; `en.po` may leave them untranslated (gettext falls back to the id) and
`zh_CN.po` holds the Chinese. The .po files are compiled in memory with Babel when first used, so there is no
build step and no .mo file to forget. The locale comes from `?lang=` or the `lang` cookie; Chinese by default.
"""

from __future__ import annotations

import gettext as _gettext
import io
from functools import lru_cache
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request

I18N_DIR = Path(__file__).resolve().parents[1] / "web" / "i18n"
LOCALES: dict[str, str] = {"zh_CN": "简体中文", "en": "English"}
DEFAULT_LOCALE = "zh_CN"
LANG_COOKIE = "lang"
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}


def normalize_locale(value: str | None) -> str | None:
    """Returns the supported locale `value` names ("en", "zh-CN", "zh_cn", "zh" ...), or None."""
    if not value:
        return None
    key = value.strip().replace("-", "_").lower()
    for locale in LOCALES:
        if key == locale.lower() or key == locale.split("_")[0].lower():
            return locale
    return None


def request_locale(request: Request) -> str:
    """Returns the locale of a request: `?lang=`, else the `lang` cookie, else Simplified Chinese."""
    return (
        normalize_locale(request.query_params.get("lang"))
        or normalize_locale(request.cookies.get(LANG_COOKIE))
        or DEFAULT_LOCALE
    )


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> _gettext.NullTranslations:
    """Returns the compiled translations of `locale` (its .po file compiled in memory, cached)."""
    if locale not in LOCALES:
        raise ValueError(f"unsupported locale {locale!r}; use one of {', '.join(LOCALES)}")
    path = I18N_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def gettext(locale: str) -> _gettext.NullTranslations:
    """Returns the translations of `locale`: `.gettext(message)` and `.ngettext(singular, plural, n)`."""
    return translations(locale)


# Where message ids live: the console templates, and the Python modules marking labels with N_().
PYTHON_SOURCES = (
    "core/templating.py",
    "domains/auth/pages.py",
    "domains/cases/pages.py",
    "domains/cases/public.py",
    "domains/intake/pages.py",
    "domains/snapshot/pages.py",
    "domains/snapshot/service.py",
    "domains/evaluation/pages.py",
    "domains/people/pages.py",
    "domains/duty/pages.py",
    "domains/staff/pages.py",
    "domains/party/enums.py",
)


def extract_catalog() -> Catalog:
    """Returns every message id of the console (templates and marked Python labels), as messages.pot holds."""
    package = Path(__file__).resolve().parents[1]
    catalog = Catalog(project="gridgov", charset="utf-8", fuzzy=False)
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    for template in sorted((package / "web" / "templates").rglob("*.html")):
        with template.open("rb") as handle:
            for lineno, message, comments, _context in extract(
                "jinja2.ext:babel_extract", handle, options={"extensions": "jinja2.ext.i18n"}
            ):
                catalog.add(
                    message, locations=[(template.relative_to(package).as_posix(), lineno)], auto_comments=comments
                )
    for relative in PYTHON_SOURCES:
        with (package / relative).open("rb") as handle:
            for lineno, message, comments, _context in extract("python", handle, keywords=keywords):
                catalog.add(message, locations=[(relative, lineno)], auto_comments=comments)
    return catalog


def update_catalogs() -> list[str]:
    """Rewrites messages.pot from the sources and merges it into each locale's .po (keeping translations).

    Returns the Chinese message ids still untranslated (the catalogue test fails until they are filled in).
    """
    from babel.messages.pofile import write_po

    template = extract_catalog()
    with (I18N_DIR / "messages.pot").open("wb") as handle:
        write_po(handle, template)
    missing: list[str] = []
    for locale in LOCALES:
        path = I18N_DIR / locale / "LC_MESSAGES" / "messages.po"
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=locale)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()
        with path.open("wb") as handle:
            write_po(handle, catalog, ignore_obsolete=True)
        if locale == "zh_CN":
            missing = [str(m.id) for m in catalog if m.id and not m.string]
    translations.cache_clear()
    return missing


def add_translations(locale: str, texts: dict[str, str]) -> list[str]:
    """Sets translations in `locale`'s .po (message id → text); returns the ids not found in the catalogue."""
    from babel.messages.pofile import write_po

    path = I18N_DIR / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    unknown = [message_id for message_id in texts if message_id not in catalog]
    for message_id, text in texts.items():
        if message_id in catalog:
            catalog[message_id].string = text
    with path.open("wb") as handle:
        write_po(handle, catalog, ignore_obsolete=True)
    translations.cache_clear()
    return unknown
