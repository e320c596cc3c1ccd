"""What SuiteCRM 7.14.6 keeps of a saved text value, and how it hands it back.

SugarBean::save() runs cleanBean(), which passes every non-empty char, text and enum field through
purify_html() (include/utils.php): HtmlSanitizer::clean() (entity-decode, then HTMLPurifier 4.15
with SuiteCRM's configuration), htmlentities(), two html_entity_decode()s, a second clean() and a
last htmlentities(). The database layer then from_html()-decodes the value once on write
(DBManager::insertParams/updateParams), and fetchByAssoc() to_html()-encodes `" < > '` (not `&`)
on every read: that is what the V8 API answers. Worked through, the stored value is the purifier's
output of the purifier's output, entity-decoded in between: a tag-like `<Course>` vanishes, `&`
is stored (and answered) as `&amp;`, and a `<` that cannot start a tag as `&lt;`.

The purifier here follows HTMLPurifier's steps for text (its DOM lexer parses with libxml2, as lxml
does; unknown and forbidden elements are dropped and their text kept; script, style, title and
head are dropped with their content; empty elements are removed); attributes are reduced to a
small safe subset rather than validated one by one as HTMLPurifier does.
"""

from __future__ import annotations

import re
from html.entities import name2codepoint

from lxml import html

# HTMLPurifier's HTML definition for SuiteCRM's configuration (XHTML 1.0 Transitional, TidyLevel
# light, body/html/iframe forbidden), dumped from HTMLPurifier 4.15.0: element → empty content.
ELEMENTS = {name: False for name in (
    "a", "abbr", "acronym", "address", "b", "bdo", "big", "blockquote", "caption", "center", "cite", "code",
    "colgroup", "dd", "del", "dfn", "dir", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5", "h6",
    "i", "ins", "kbd", "li", "menu", "ol", "p", "pre", "q", "s", "samp", "small", "span", "strike", "strong",
    "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var")}
ELEMENTS.update({name: True for name in ("br", "hr", "col", "img", "basefont")})
HIDDEN = {"script", "style", "title", "head"}  # Core.HiddenElements: dropped with their content
SAFE_ATTRIBUTES = {"title", "lang", "dir"}
SAFE_SCHEMES = re.compile(r"^(?:https?|mailto|ftp|nntp|news|tel):|^[^:]*$", re.IGNORECASE)
# HtmlSanitizer::clean() turns an Outlook-style "&lt;address&gt;" into a mailto link first.
OUTLOOK_ADDRESS = re.compile(r"(.*)(&lt;([a-zA-Z0-9.!#$%&'*+=?^_`{|}~-]+@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}"
                             r"[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*)&gt;)(.*)")
ENTITY = re.compile(r"&(?:#(\d+)|#[xX]([0-9a-fA-F]+)|([A-Za-z][A-Za-z0-9]*));")
NON_SGML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # HTMLPurifier_Encoder::cleanUTF8 drops these
STRAY_LT = re.compile(r"<([^a-z!/])", re.IGNORECASE)  # Core.AggressivelyFixLt
SCRIPT = re.compile(r"<script[^>]*>.*?</script>", re.IGNORECASE | re.DOTALL)  # Core.AggressivelyRemoveScript
CDATA = re.compile(r"<!\[CDATA\[(.+?)\]\]>", re.DOTALL)  # HTMLPurifier_Lexer::escapeCDATA
BARE_AMPERSAND = re.compile(r"&(?!#\d+;|#[xX][0-9a-fA-F]+;|[A-Za-z][A-Za-z0-9]*;)")
# HTMLPurifier_AttrDef_CSS_Color writes the HTML 4 colour names as hex.
COLOURS = {"black": "#000000", "silver": "#C0C0C0", "gray": "#808080", "white": "#FFFFFF", "maroon": "#800000",
           "red": "#FF0000", "purple": "#800080", "fuchsia": "#FF00FF", "green": "#008000", "lime": "#00FF00",
           "olive": "#808000", "yellow": "#FFFF00", "navy": "#000080", "blue": "#0000FF", "teal": "#008080",
           "aqua": "#00FFFF"}
TO_HTML = {'"': "&quot;", "<": "&lt;", ">": "&gt;", "'": "&#039;"}


def saved(value: str) -> str:
    """The database value SuiteCRM keeps when a char/text/enum field is saved with `value`."""
    if value in ("", "0"):  # cleanBean skips empty() values
        return value
    first = _clean(value)
    decoded = entity_decode(first)
    if "<script>" in first.lower() or "<script>" in decoded.lower():
        decoded = ""
    return _clean(decoded)


def to_html(stored: str) -> str:
    """A database value as fetchByAssoc() hands it out (to_html: `" < > '`, not `&`)."""
    return "".join(TO_HTML.get(char, char) for char in stored)


def entity_decode(text: str) -> str:
    """PHP 8's html_entity_decode() with its defaults (ENT_QUOTES | ENT_HTML401, UTF-8)."""
    def one(match: re.Match) -> str:
        decimal, hexadecimal, name = match.groups()
        if name is not None:
            return chr(name2codepoint[name]) if name in name2codepoint else match.group(0)
        codepoint = int(decimal) if decimal is not None else int(hexadecimal, 16)
        allowed = (codepoint in (0x09, 0x0A, 0x0D) or 0x20 <= codepoint <= 0x7E
                   or 0xA0 <= codepoint <= 0xD7FF or 0xE000 <= codepoint <= 0x10FFFF)
        return chr(codepoint) if allowed else match.group(0)

    return ENTITY.sub(one, text)


def _clean(text: str) -> str:
    """HtmlSanitizer::clean($text, true)."""
    return purify(entity_decode(OUTLOOK_ADDRESS.sub(r'\1<<a href="mailto:\3">\3</a>> \4', text)))


def purify(text: str) -> str:
    """HTMLPurifier::purify() with SuiteCRM's configuration, for text and simple markup."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = CDATA.sub(lambda match: _escape(match.group(1), quote=True), text)
    text = SCRIPT.sub("", NON_SGML.sub("", text))
    # libxml2 2.9 (PHP's) takes only complete references; newer ones also `&amp` without `;`.
    text = BARE_AMPERSAND.sub("&amp;", text)
    previous = None
    while previous != text:
        previous, text = text, STRAY_LT.sub(r"&lt;\1", text)
    document = html.document_fromstring(
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8" /></head>'
        f"<body><div>{text}</div></body></html>", parser=html.HTMLParser(encoding="utf-8"))
    body = document.find("body")
    div = body.find("div") if body is not None else None
    if div is None:
        return ""
    if div.getnext() is None and not div.tail:
        return _children(div)
    # A stray </div> ended the wrapper early: HTMLPurifier then takes the rest of the body.
    rest, div.tail = div.tail or "", None
    body.remove(div)
    body.text = (body.text or "") + rest
    return _children(body)


def _children(element) -> str:
    parts = [_escape(element.text or "")]
    for child in element:
        parts.append(_element(child))
        parts.append(_escape(child.tail or ""))
    return "".join(parts)


def _element(element) -> str:
    if not isinstance(element.tag, str):  # comments and processing instructions
        return ""
    tag = element.tag.lower()
    if tag in HIDDEN:
        return ""
    if tag not in ELEMENTS:
        return _children(element)
    attributes = _attributes(element, tag)
    rendered = "".join(f' {name}="{_escape(value, quote=True)}"' for name, value in attributes)
    if ELEMENTS[tag]:
        return f"<{tag}{rendered} />" if tag != "img" or any(n == "src" for n, _ in attributes) else ""
    inner = _children(element)
    if not inner.strip(" \t\r\n") and not any(name in {"id", "name"} for name, _ in attributes):
        return ""  # AutoFormat.RemoveEmpty, whitespace included
    return f"<{tag}{rendered}>{inner}</{tag}>"


def _attributes(element, tag: str) -> list[tuple[str, str]]:
    kept = []
    for name, value in element.attrib.items():
        name = name.lower()
        if name in SAFE_ATTRIBUTES or (tag == "a" and name == "href" and SAFE_SCHEMES.match(value.strip())):
            kept.append((name, value))
        elif name == "id":
            kept.append((name, f"sugar_text_{value}"))  # Attr.IDPrefix
        elif tag == "img" and name in {"src", "alt", "width", "height"}:
            kept.append((name, value))
        elif tag == "font" and name == "color":
            kept.append((name, COLOURS.get(value.strip().lower(), value.strip())))
    if tag == "img" and any(n == "src" for n, _ in kept) and not any(n == "alt" for n, _ in kept):
        src = dict(kept)["src"]
        kept.append(("alt", src.rsplit("/", 1)[-1]))  # HTMLPurifier names an image after its file
    return kept


def _escape(text: str, quote: bool = False) -> str:
    """htmlspecialchars() as HTMLPurifier's generator calls it (text ENT_NOQUOTES, attributes ENT_COMPAT)."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace('"', "&quot;") if quote else text

