"""The webhook endpoints described as an OpenAPI 3.1 document whose request bodies are the event contracts.

schemathesis generates from it: messages valid under the contract's JSON Schemas (every type, all
their limits and patterns) and messages that break them. The schemas are bundled as they are:
each file becomes a component, each relative `$ref` a reference to that component.
"""

from __future__ import annotations

import json
import posixpath
from functools import cache

from crmsync import contract


def _component(schema_id: str) -> str:
    return schema_id.removesuffix(".json").replace("/", "_")


def _bundled(node, base: str):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key in ("$schema", "$id"):
                continue
            if key == "$ref":
                target = posixpath.normpath(posixpath.join(posixpath.dirname(base), value))
                out[key] = f"#/components/schemas/{_component(target)}"
            else:
                out[key] = _bundled(value, base)
        return out
    if isinstance(node, list):
        return [_bundled(item, base) for item in node]
    return node


@cache
def document() -> dict:
    schemas = {}
    for path in sorted(contract.SCHEMA_DIR.rglob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        schemas[_component(schema["$id"])] = _bundled(schema, schema["$id"])
    messages = {"anyOf": [{"$ref": f"#/components/schemas/{_component(t + '.json')}"}
                          for t in contract.message_types()]}
    # The CRM sends batches only (docs/event-contract.md, "CRM → receiver").
    crm_batch = {"type": "object", "required": ["events"], "additionalProperties": False, "properties": {
        "events": {"type": "array", "minItems": 1, "maxItems": 5, "items": {"anyOf": [
            {"$ref": f"#/components/schemas/{_component('crm/' + t + '.json')}"}
            for t in contract.message_types(contract.CRM)]}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Moodle and CRM webhooks (the event contracts)", "version": "1"},
        "paths": {path: {"post": {
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
            "responses": {"202": {"description": "stored and queued"}},
        }} for path, schema in (("/webhooks/moodle", messages), ("/webhooks/crm", crm_batch))},
        "components": {"schemas": schemas},
    }
