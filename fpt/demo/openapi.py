"""The demo service's OpenAPI 3.1 document, served at ``GET /openapi.json``.

Hand-written (the demo is plain Starlette): it describes what the handlers in
:mod:`fpt.demo.app` and :mod:`fpt.demo.strain` accept and answer, so
``fpt_load.openapi("/openapi.json", auth=sign_in)`` hunts every route with no flow.
"""

from __future__ import annotations

from typing import Any

_JSON = "application/json"


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {_JSON: {"schema": schema}}}


def _answer(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description}
    if schema is not None:
        out["content"] = {_JSON: {"schema": schema}}
    return out


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


_DENIED = {"401": _answer("not logged in"), "404": _answer("not the member's, or no such visit")}
_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}]

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "fpt demo: appointment booking", "version": "1"},
    "paths": {
        "/health": {"get": {"operationId": "health", "responses": {"200": _answer("alive")}}},
        "/signup": {"post": {"operationId": "signUp", "requestBody": _body(_ref("SignUp")),
                             "responses": {"201": _answer("the member", _ref("Member")),
                                           "409": _answer("exists")}}},
        "/login": {"post": {"operationId": "logIn", "requestBody": _body(_ref("Credentials")),
                            "responses": {"200": _answer("a session cookie"), "401": _answer("refused")}}},
        "/logout": {"post": {"operationId": "logOut", "responses": {"200": _answer("cookie removed")}}},
        "/me": {"get": {"operationId": "getMe", "responses": {
            "200": _answer("the member", {"type": "object", "properties": {"member": _ref("Member")},
                                          "required": ["member"]}),
            "401": _answer("not logged in")}}},
        "/visits": {
            "get": {"operationId": "listVisits", "responses": {
                "200": _answer("the member's visits", {
                    "type": "object", "properties": {"visits": {"type": "array", "items": _ref("Visit")}},
                    "required": ["visits"]})}},
            "post": {"operationId": "bookVisit", "requestBody": _body(_ref("NewVisit")), "responses": {
                "201": _answer("the visit", _ref("Visit")), "422": _answer("invalid")}},
        },
        "/visits/{id}": {
            "parameters": _ID,
            "get": {"operationId": "getVisit", "responses": {"200": _answer("the visit", _ref("Visit")),
                                                             **_DENIED}},
            "put": {"operationId": "rescheduleVisit", "requestBody": _body(_ref("Reschedule")),
                    "responses": {"200": _answer("the visit", _ref("Visit")), **_DENIED}},
            "delete": {"operationId": "cancelVisit", "responses": {"200": _answer("the cancelled visit",
                                                                                  _ref("Visit")), **_DENIED}},
        },
        "/records": {"post": {"operationId": "importRecords", "requestBody": _body({
            "type": "object", "properties": {"count": {"type": "integer", "minimum": 1, "maximum": 20}},
            "required": ["count"]}), "responses": {"201": _answer("imported", {
                "type": "object", "properties": {"imported": {"type": "integer"},
                                                 "total": {"type": "integer"}}})}}},
        "/records/latest": {"get": {"operationId": "latestRecords", "responses": {
            "200": _answer("the member's ten latest records", {
                "type": "object",
                "properties": {"records": {"type": "array", "items": {"type": "object"}}}})}}},
    },
    "components": {"schemas": {
        "Credentials": {"type": "object", "required": ["email", "password"], "properties": {
            "email": {"type": "string", "format": "email"}, "password": {"type": "string", "minLength": 1}}},
        "SignUp": {"type": "object", "required": ["email", "password", "name", "phone", "birth_date",
                                                  "member_id", "address", "canary"],
                   "properties": {k: {"type": "string", "minLength": 1, "maxLength": 1000}
                                  for k in ("email", "password", "name", "phone", "birth_date", "member_id",
                                            "address", "canary")}},
        "Member": {"type": "object", "properties": {
            k: {"type": "string"} for k in ("email", "name", "phone", "birth_date", "member_id", "address",
                                            "canary")}},
        "NewVisit": {"type": "object", "required": ["note"], "properties": {
            "note": {"type": "string", "minLength": 1, "maxLength": 1000},
            "date": {"type": "string", "format": "date"}}},
        "Reschedule": {"type": "object", "required": ["date"], "properties": {
            "date": {"type": "string", "format": "date"}}},
        "Visit": {"type": "object", "properties": {
            "id": {"type": "integer"}, "member_id": {"type": "string"}, "note": {"type": "string"},
            "date": {"type": "string"}, "status": {"type": "string", "enum": ["booked", "cancelled"]}}},
    }},
}
