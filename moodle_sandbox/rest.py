"""/webservice/rest/server.php: the order of checks and the answers of Moodle's REST server.

webservice/lib.php run(): parse the request, authenticate the token, find the function and check
that the token's service lists it, validate the parameters, execute, send the result. Every failure
is an HTTP 200 carrying the exception in the requested format (JSON, or XML by default).
"""

from __future__ import annotations

import json
from html import escape

from flask import Blueprint, Response, current_app, request

from moodle_sandbox.errors import InvalidParameter, MissingRecord, MoodleException, PhpCrash
from moodle_sandbox.functions import NOT_REPRODUCED, REGISTRY, Call, known
from moodle_sandbox.params import parse_form, validate

blueprint = Blueprint("moodle_rest", __name__)
PATH = "/webservice/rest/server.php"
JSON = "application/json"
XML = "application/xml; charset=utf-8"
ACCESS_DENIED = """Access to the function {name}() is not allowed.
                     There could be multiple reasons for this:
                     1. The service linked to the user token does not contain the function.
                     2. The service is user-restricted and the user is not listed.
                     3. The service is IP-restricted and the user IP is not listed.
                     4. The service is time-restricted and the time has expired.
                     5. The token is time-restricted and the time has expired.
                     6. The service requires a specific capability which the user does not have.
                     7. The function is called with username/password (no user token is sent)
                     and none of the services has the function to allow the user.
                     These settings can be found in Administration > Site administration
                     > Server > Web services > External services and Manage tokens."""


def php_json(value) -> str:
    """json_encode() with PHP's defaults: escaped slashes and \\u-escaped non-ASCII."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def _xml_value(value) -> str:
    if value is None:
        return '<VALUE null="null"/>\n'
    if isinstance(value, dict):
        keys = "".join(f'<KEY name="{escape(str(k))}">{_xml_value(v)}</KEY>\n' for k, v in value.items())
        return f"<SINGLE>\n{keys}</SINGLE>\n"
    if isinstance(value, list):
        return "<MULTIPLE>\n" + "".join(_xml_value(v) for v in value) + "</MULTIPLE>\n"
    if isinstance(value, bool):
        value = int(value)
    return f"<VALUE>{escape(str(value), quote=False)}</VALUE>\n"


def _answer(body: str, restformat: str) -> Response:
    response = Response(body, 200, content_type=JSON if restformat == "json" else XML)
    response.headers["Cache-Control"] = "private, must-revalidate, pre-check=0, post-check=0, max-age=0"
    response.headers["Access-Control-Allow-Origin"] = "*"
    if restformat != "json":
        response.headers["Content-Disposition"] = 'inline; filename="response.xml"'
    return response


def _error(exc: MoodleException, restformat: str) -> Response:
    if restformat == "json":
        return _answer(php_json(exc.body()), restformat)
    xml = f'<?xml version="1.0" encoding="UTF-8" ?>\n<EXCEPTION class="{exc.exception}">\n'
    xml += f"<ERRORCODE>{escape(exc.errorcode)}</ERRORCODE>\n<MESSAGE>{escape(exc.message)}</MESSAGE>\n"
    if exc.debuginfo is not None:
        xml += f"<DEBUGINFO>{escape(exc.debuginfo)}</DEBUGINFO>\n"
    return _answer(xml + "</EXCEPTION>\n", restformat)


def _result(result, restformat: str) -> Response:
    if restformat == "json":
        return _answer(php_json(result), restformat)
    inner = "" if result is None else _xml_value(result)
    return _answer(f'<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n{inner}</RESPONSE>\n', restformat)


@blueprint.route(PATH, methods=["GET", "POST"])
def server():
    state = current_app.extensions["moodle_sandbox"]
    pairs = list(request.args.items(multi=True)) + list(request.form.items(multi=True))
    fields = dict(pairs)
    restformat = fields.get("moodlewsrestformat")
    restformat = restformat if restformat in ("json", "xml") else "xml"
    params = parse_form([(k, v) for k, v in pairs if k not in ("moodlewsrestformat", "wstoken", "wsfunction")])
    name = fields.get("wsfunction")
    try:
        return _result(_run(state, fields.get("wstoken"), name, params), restformat)
    except MoodleException as exc:
        return _error(exc.shown(state.config().get("debugdeveloper", True)), restformat)
    except PhpCrash:
        return Response("", 500, content_type="text/html; charset=utf-8")


def _run(state, token: str | None, name: str | None, params: dict):
    caller = state.token_owner(token)
    if caller is None:
        raise MoodleException("invalidtoken", "Invalid token - token not found")
    if not name:
        raise InvalidParameter("Missing function name")
    if not known(name):
        raise MissingRecord("external_functions", "name", name)
    if name not in caller["service"]["functions"]:
        raise MoodleException("accessexception", "Access control exception", ACCESS_DENIED.format(name=name),
                              exception="webservice_access_exception")
    if not caller.get("policyagreed", 1) and name != "core_webservice_get_site_info":
        # As a real Moodle 4.3 answers once a new site policy version is live and the user has not agreed to it.
        raise MoodleException("sitepolicynotagreed", 'Site policy not agreed: <a href="'
                              + state.config()["siteurl"] + '/admin/tool/policy/index.php">'
                              "Click here to open the site policy.</a>")
    if name in NOT_REPRODUCED:
        raise MoodleException("sandboxnotreproduced", f"The Moodle sandbox does not reproduce {name}")
    function = REGISTRY[name]
    state.gate.wait_here("POST", name)
    with state.store.transaction():
        return function.run(Call(state.store, caller, int(state.now()), state.config()),
                             validate(function.parameters, params))
