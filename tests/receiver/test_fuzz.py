"""Fuzzing every endpoint: no request a client can send makes the receiver answer 5xx.

503 would be deliberate (database down), but every service is up here, so any 5xx is a bug. Bodies
come from hypothesis (garbage, JSON of every shape) and from schemathesis, which reads the event
contract's JSON Schemas (tests/receiver/contract_openapi.py) and the admin API's OpenAPI document.
Each test is bounded: a few hundred examples, well under a minute.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.receiver import contract_openapi
from tests.receiver.conftest import ADMIN_TOKEN, Receiver, message, signed
from tests.support import FIXTURES


def fuzz(examples: int):
    return settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)


# Any character, surrogates included (JSON can spell them as \ud800): hypothesis leaves them out by default.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**62, max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False) | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=20)
# What an HTTP header can carry (latin-1), short and long.
header_values = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=80) | st.sampled_from(
    ["x" * 100, "x" * 5000, "", " ", "\xe9", "v1,"])


def test_unsigned_garbage_never_causes_a_server_error(sqlite_url, redis_url):
    receiver = Receiver(sqlite_url, redis_url)

    @fuzz(300)
    @given(body=st.binary(max_size=2000), webhook_id=header_values, timestamp=header_values, signature=header_values,
           content_type=st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-8", "",
                                         "application/json; charset=latin-1", "multipart/form-data"]),
           encoding=st.sampled_from([None, "identity", "gzip", "br", "", "x" * 300]))
    def check(body, webhook_id, timestamp, signature, content_type, encoding):
        headers = {"webhook-id": webhook_id, "webhook-timestamp": timestamp, "webhook-signature": signature,
                   "Content-Type": content_type}
        if encoding is not None:
            headers["Content-Encoding"] = encoding
        response = receiver.client.post("/webhooks/moodle", data=body, headers=headers)
        assert response.status_code in (400, 401, 413, 415), response.get_data(as_text=True)
        assert response.is_json

    check()


def test_signed_but_malformed_messages_never_cause_a_server_error(database_url, redis_url):
    """Even with a valid signature, whatever the JSON holds gets a 4xx or a 202, never a 5xx: on every engine,
    since each refuses different things (NUL in PostgreSQL text, dates before 1000 in MariaDB)."""
    receiver = Receiver(database_url, redis_url)
    base = message()

    @fuzz(200)
    @given(changes=st.dictionaries(st.sampled_from(sorted(base)), json_values, max_size=3),
           data=st.dictionaries(st.sampled_from(["userid", "courseid", "lastaccess", "extra"]), json_values,
                                max_size=3),
           batch=st.booleans())
    def check(changes, data, batch):
        document = {**message(), **changes}
        if isinstance(document.get("data"), dict):
            document["data"] = {**document["data"], **data}
        payload = {"events": [document]} if batch else document
        body = json.dumps(payload)
        webhook_id = "batch" if batch else str(document.get("id"))[:64]
        response = receiver.client.post("/webhooks/moodle", data=body,
                                        headers=signed(body, receiver.secret, webhook_id or "x"))
        assert response.status_code in (202, 400, 413, 422), response.get_data(as_text=True)

    check()


def _whole_numbers_as_integers(value):
    """schemathesis writes some integers as 3.0, which JSON Schema allows and the contract does not
    (crmsync/contract: the connector keys records by id); write them as the plugin does."""
    if isinstance(value, dict):
        return {key: _whole_numbers_as_integers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_integers(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _storable(value) -> bool:
    """No NUL and no lone surrogate in any string or member name."""
    if isinstance(value, dict):
        return all(_storable(key) and _storable(item) for key, item in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return "\x00" not in value
    return True


def _operation(path: str):
    schema = schemathesis.openapi.from_dict(contract_openapi.document())
    return next(op.ok() for op in schema.get_all_operations() if op.ok().path == path)


@pytest.fixture(scope="module")
def webhook_operation():
    return _operation("/webhooks/moodle")


@pytest.fixture(scope="module")
def crm_webhook_operation():
    return _operation("/webhooks/crm")


def test_every_message_the_contract_allows_is_accepted_and_fits_the_crm(database_url, redis_url, webhook_operation):
    """Valid messages of every type, drawn from the JSON Schemas with all their limits, are accepted, and
    the connector's mapping turns each into writes that fit the CRM's fields (crm_schema.yaml, SuiteCRM's
    own Contact fields): the contract refuses at the door whatever the CRM could not hold."""
    receiver = Receiver(database_url, redis_url)

    @fuzz(100)  # on each engine: 300 in all
    @given(case=webhook_operation.as_strategy(GenerationMode.POSITIVE))
    def check(case):
        document = _whole_numbers_as_integers(case.body)
        body = json.dumps(document, ensure_ascii=False)
        # Where the schemas leave content open (extra members), the receiver still refuses NUL and lone
        # surrogates, which no database stores (test_bad_input.py); the schemas cannot say it of member names.
        assume(_storable(document))
        response = receiver.client.post("/webhooks/moodle", data=body.encode(),
                                        headers=signed(body, receiver.secret, document["id"]))
        assert response.status_code == 202, response.get_data(as_text=True)
        assert_fits_the_crm(document, receiver.settings)

    check()


def test_every_message_the_contract_refuses_is_refused(sqlite_url, redis_url, webhook_operation):
    """schemathesis breaks the contract in every way it can think of; each is a 400 or 422, never stored."""
    receiver = Receiver(sqlite_url, redis_url)

    @fuzz(200)
    @given(case=webhook_operation.as_strategy(GenerationMode.NEGATIVE))
    def check(case):
        document = case.body
        body = document if isinstance(document, bytes) else json.dumps(document, ensure_ascii=False).encode(
            "utf-8", "surrogatepass")
        webhook_id = document.get("id") if isinstance(document, dict) else None
        webhook_id = webhook_id if isinstance(webhook_id, str) and webhook_id.isascii() and webhook_id.isprintable() \
            and " " not in webhook_id and 0 < len(webhook_id) <= 64 else "batch"
        response = receiver.client.post("/webhooks/moodle", data=body, headers=signed(body, receiver.secret, webhook_id))
        assert response.status_code in (400, 422), response.get_data(as_text=True)

    check()


def _one_record_per_subject(batch: dict) -> dict:
    """The one rule of the CRM contract no JSON Schema states: a message's subject names its data.id."""
    for event in batch["events"]:
        event["subject"] = event["subject"].split(":")[0] + ":" + event["data"]["id"]
    return batch


def test_every_batch_the_crm_contract_allows_is_accepted(database_url, redis_url, crm_webhook_operation):
    receiver = Receiver(database_url, redis_url)

    @fuzz(40)  # on each engine: 120 in all
    @given(case=crm_webhook_operation.as_strategy(GenerationMode.POSITIVE))
    def check(case):
        batch = _one_record_per_subject(_whole_numbers_as_integers(case.body))
        body = json.dumps(batch, ensure_ascii=False)
        response = receiver.client.post("/webhooks/crm", data=body.encode(),
                                        headers=signed(body, receiver.crm_secret, "batch"))
        assert response.status_code == 202, response.get_data(as_text=True)

    check()


def test_every_batch_the_crm_contract_refuses_is_refused(sqlite_url, redis_url, crm_webhook_operation):
    receiver = Receiver(sqlite_url, redis_url)

    @fuzz(150)
    @given(case=crm_webhook_operation.as_strategy(GenerationMode.NEGATIVE))
    def check(case):
        document = case.body
        body = document if isinstance(document, bytes) else json.dumps(document, ensure_ascii=False).encode(
            "utf-8", "surrogatepass")
        response = receiver.client.post("/webhooks/crm", data=body, headers=signed(body, receiver.crm_secret, "batch"))
        assert response.status_code in (400, 422), response.get_data(as_text=True)

    check()


def test_admin_api_follows_its_openapi_document_on_every_engine(database_url, redis_url):
    """schemathesis, valid and invalid requests from the document: every answer is one the document
    promises, with the body it promises, and none is a 5xx."""
    receiver = Receiver(database_url, redis_url)
    receiver.post(message())
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", receiver.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 10  # events, one event, replay, stats, conflicts; reconciliations: start, list, one, differences, repair
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _follows_the_document(operation, mode)


def _follows_the_document(operation, mode: GenerationMode) -> None:
    @fuzz(30)  # 10 operations, valid and invalid: 600 requests per engine
    @given(case=operation.as_strategy(mode))
    def check(case):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {ADMIN_TOKEN}"}
        response = case.call()
        assert response.status_code < 500, response.text
        if mode is GenerationMode.POSITIVE:
            case.validate_response(response)

    check()


ROUTES = ["/webhooks/moodle", "/webhooks/crm", "/healthz", "/readyz", "/metrics", "/api/v1/events", "/api/v1/events/x",
          "/api/v1/events/replay", "/api/v1/stats", "/api/v1/openapi.json", "/", "/api/v1/nope",
          "/api/v1/reconciliations", "/api/v1/reconciliations/1/differences", "/api/v1/reconciliations/1/repair"]


def test_any_method_path_query_and_headers_never_cause_a_server_error(sqlite_url, redis_url):
    receiver = Receiver(sqlite_url, redis_url)
    receiver.post(message())
    authorization = st.sampled_from([None, f"Bearer {ADMIN_TOKEN}", "Bearer nope"]) | header_values

    @fuzz(300)
    @given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
           route=st.sampled_from(ROUTES), suffix=any_text,
           query=st.dictionaries(any_text, any_text, max_size=3), auth=authorization,
           body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
    def check(method, route, suffix, query, auth, body):
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        # A path the test client would read as "//host/…" (a network-path reference) names no path of ours.
        path = "/" + (route + _encoded(suffix, safe="/")).lstrip("/")
        response = receiver.client.open(path, method=method, query_string=_query(query), headers=headers, data=body)
        assert response.status_code < 500, (method, path, response.get_data(as_text=True))

    check()


def _encoded(text: str, safe: str = "") -> str:
    """Percent-encoded UTF-8, lone surrogates included (a client may send any bytes)."""
    from urllib.parse import quote

    return quote(text.encode("utf-8", "surrogatepass"), safe=safe)


def _query(query: dict[str, str]) -> str:
    return "&".join(f"{_encoded(k)}={_encoded(v)}" for k, v in query.items())


# --- what the CRM can hold ------------------------------------------------------------------------------------

# Joined lists: one CRM field holds all of a learner's enrolment methods or roles in a course, which no
# per-item limit of a JSON Schema can bound. The connector has to shorten them (see the report).
JOINED = {("mdl_Enrolments", "enrol_methods"), ("mdl_Enrolments", "roles")}
TEXT_BYTES = 65535  # a CRM text column (MySQL TEXT)


@cache
def _contact_lengths() -> dict[str, int]:
    """SuiteCRM 7.14.6's own Contact fields, as its V8 API describes them (a recorded answer)."""
    recorded = Path(FIXTURES) / "suitecrm-v8-7.14.6-custom-module" / "04_meta_fields_Contacts.json"
    fields = json.loads(recorded.read_text())["response"]["body"]["data"]["attributes"]
    lengths = {name: int(meta["len"]) for name, meta in fields.items() if str(meta.get("len", "")).isdigit()}
    lengths.setdefault("email1", 100)  # email_addresses.email_address
    return lengths


def assert_fits_the_crm(document: dict, config) -> None:
    from crm_connector import crm_schema, mapping

    schema = crm_schema.load()
    contact_lengths = _contact_lengths()
    for write in mapping.writes_for(document, config):  # a MappingError fails the test
        if write.module == "Contacts":
            fields = {f.name: f for f in schema.contact_fields}
        else:
            fields = {f.name: f for f in schema.module(write.module).fields}
        for name, value in write.attributes.items():
            where = f"{document['type']}: {write.module}.{name} = {value!r}"
            assert isinstance(value, str), where
            field = fields.get(name)
            if field is None:  # a standard field: name (255) on custom modules, SuiteCRM's own on Contacts
                limit = contact_lengths.get(name, 255) if write.module == "Contacts" else 255
                assert len(value) <= limit, where
                continue
            if field.type in ("varchar", "url") and (write.module, name) not in JOINED:
                assert len(value) <= (field.len or 255), where
            elif field.type == "text":
                assert len(value.encode()) <= TEXT_BYTES, where
            elif field.type == "int" and value != "":
                assert -(2**63) <= int(value) < 2**63, where
            elif field.type == "decimal" and value != "":
                assert abs(Decimal(value)) < Decimal(10) ** (field.len - field.precision), where
            elif field.type == "datetimecombo" and value != "":
                assert datetime.strptime(value, "%Y-%m-%d %H:%M:%S").year <= 9999, where
            elif field.type == "enum":
                assert value in schema.dropdowns[field.options], where
            elif field.type == "bool":
                assert value in ("0", "1"), where
