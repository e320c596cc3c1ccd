"""Moodle's external parameter descriptions and validate_parameters(), with its exact messages.

The REST server hands PHP's parsed form (`users[0][username]=x` → nested arrays) to
external_api::validate_parameters (lib/external/classes/external_api.php); this is that walk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from moodle_sandbox.errors import InvalidParameter

REQUIRED, OPTIONAL, DEFAULT = "required", "optional", "default"


@dataclass
class Value:
    type: str
    required: str = REQUIRED
    default: object = None
    allownull: bool = False


@dataclass
class Single:
    keys: dict
    required: str = REQUIRED
    default: object = None
    allownull: bool = False


@dataclass
class Multiple:
    content: object
    required: str = REQUIRED
    default: object = field(default_factory=list)
    allownull: bool = False


def optional(description):
    description.required = OPTIONAL
    return description


def default(description, value):
    description.required, description.default = DEFAULT, value
    return description


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]*>", "", text)


LANGS = {"en"}
THEMES = {"boost", "classic"}
# clean_param() of each PARAM_* type (lib/moodlelib.php), as far as the sync's calls reach.
CLEANERS = {
    "int": lambda v: str(int(v)) if re.fullmatch(r"\s*[+-]?\d+", v) else str(int(float(v))) if re.fullmatch(
        r"[+-]?\d+\.\d*", v) else "0",
    "raw": lambda v: v,
    "raw_trimmed": lambda v: v.strip(),
    "text": _strip_tags,
    "notags": _strip_tags,
    "alpha": lambda v: re.sub(r"[^a-zA-Z]", "", v),
    "alphanumext": lambda v: re.sub(r"[^a-zA-Z0-9_-]", "", v),
    "alphaext": lambda v: re.sub(r"[^a-zA-Z_-]", "", v),
    "plugin": lambda v: v if re.fullmatch(r"[a-z][a-z0-9_]*", v) else "",
    "sequence": lambda v: re.sub(r"[^0-9,]", "", v),
    "username": lambda v: re.sub(r"[^a-z0-9_.@-]", "", v.strip().lower()),
    "auth": lambda v: v if re.fullmatch(r"[a-z][a-z0-9_]*", v) else "",
    "lang": lambda v: v if v in LANGS else "",
    "theme": lambda v: v if v in THEMES else "",
    "timezone": lambda v: v if re.fullmatch(r"[+-]?\d{1,2}(\.(5|25|75))?|99|[A-Za-z0-9]+(/?[A-Za-z0-9_+-])+", v)
    else "99",
}


def _validate_value(description: Value, value):
    if isinstance(value, dict):
        raise InvalidParameter("Scalar type expected, array or object received.")
    if description.type == "bool" and value in (True, False, 0, 1, "0", "1"):
        return value in (True, 1, "1")
    debuginfo = (f'Invalid external api parameter: the value is "{_php_string(value)}", '
                 f'the server was expecting "{description.type}" type')
    if value is None:
        if description.allownull:
            return None
        raise InvalidParameter(debuginfo)
    text = _php_string(value)
    if description.type == "float":
        if not re.fullmatch(r"[+-]?[0-9]*\.?[0-9]*(e[-+]?[0-9]+)?", text, re.I) or not _numeric(text):
            raise InvalidParameter(debuginfo)
        return float(text)
    if description.type == "bool":
        raise InvalidParameter(debuginfo)
    cleaned = CLEANERS[description.type](text)
    if cleaned != text:
        raise InvalidParameter(debuginfo)
    return int(cleaned) if description.type == "int" else cleaned


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _php_string(value) -> str:
    if value is True:
        return "1"
    if value is False or value is None:
        return ""
    return str(value)


def validate(description, params):
    """The cleaned parameters, or InvalidParameter with the message Moodle would give."""
    if params is None and description.allownull:
        return None
    if isinstance(description, Value):
        return _validate_value(description, params)
    if not isinstance(params, dict):
        raise InvalidParameter(f"Only arrays accepted. The bad value is: '{_php_string(params)}'")
    if isinstance(description, Multiple):
        return [validate(description.content, item) for item in params.values()]
    result, rest = {}, dict(params)
    for key, sub in description.keys.items():
        if key not in rest:
            if sub.required == REQUIRED:
                raise InvalidParameter(f"Missing required key in single structure: {key}")
            if sub.required == DEFAULT:
                result[key] = _nested(key, sub, _as_params(sub.default))
            continue
        result[key] = _nested(key, sub, rest.pop(key))
    if rest:
        raise InvalidParameter(f"Unexpected keys ({', '.join(rest)}) detected in parameter array.")
    return result


def _nested(key: str, description, value):
    try:
        return validate(description, value)
    except InvalidParameter as exc:
        # Moodle builds the path to the faulty attribute this way, message and debuginfo doubled.
        raise InvalidParameter(f"{key} => {exc.message}: {exc.debuginfo}") from None


def _as_params(value):
    """A PHP default (list or scalar) in the shape the parsed request would have."""
    if isinstance(value, list):
        return {str(i): _as_params(v) for i, v in enumerate(value)}
    return value


def parse_form(pairs: list[tuple[str, str]]) -> dict:
    """PHP's parsing of `a[b][0]=v` form fields into nested arrays (ordered, `a[]` appends)."""
    result: dict = {}
    for name, value in pairs:
        match = re.match(r"([^\[]+)((?:\[[^\]]*\])*)$", name)
        if not match:
            result[name] = value
            continue
        keys = [match.group(1)] + re.findall(r"\[([^\]]*)\]", match.group(2))
        node = result
        for depth, key in enumerate(keys):
            if key == "":
                key = str(sum(1 for k in node if k.isdigit()))
            last = depth == len(keys) - 1
            if last:
                node[key] = value
            else:
                if not isinstance(node.get(key), dict):
                    node[key] = {}
                node = node[key]
    return result
