"""The OpenAPI document: valid, complete, built once, and served with its docs page."""

import re

import pytest
import schemathesis

from luffy import openapi

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def documented(spec):
    """``{(METHOD, path)}`` of the document, trailing slashes dropped (both answer)."""
    return {(method.upper(), path.rstrip("/") or "/")
            for path, methods in spec["paths"].items() for method in methods}


def test_document_is_valid_openapi_3(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    schemathesis.openapi.from_dict(spec).validate()  # against the OpenAPI 3.0 meta-schema


def test_every_route_is_documented_and_every_operation_routed(app, client):
    routed = {(method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).rstrip("/") or "/")
              for rule in app.url_map.iter_rules() if not rule.endpoint.endswith("static")
              for method in rule.methods & METHODS}
    assert routed == documented(client.get("/openapi.json").get_json())


def test_document_is_built_once_per_app(app, client, monkeypatch):
    monkeypatch.setattr(openapi, "build_spec", lambda: pytest.fail("rebuilt"))
    first = client.get("/openapi.json").get_json()
    assert client.get("/openapi.json").get_json() == first
    assert client.get("/docs").status_code == 200


def test_protected_operations_name_their_credentials(client):
    spec = client.get("/openapi.json").get_json()
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "basicAuth", "cookieAuth"}
    for path in ("/users/me", "/users/password"):
        (operation,) = spec["paths"][path].values()
        assert {"bearerAuth": []} in operation["security"]
        assert "401" in operation["responses"]


def test_answers_come_from_the_marshmallow_schemas(client):
    spec = client.get("/openapi.json").get_json()
    login = spec["paths"]["/users/login/"]["post"]
    assert set(login["requestBody"]["content"]) >= {"application/json",
                                                    "application/x-www-form-urlencoded"}
    assert login["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/LoginAnswer"}
    assert set(login["responses"]) == {"200", "400", "401", "413", "415", "429", "503"}
    assert spec["components"]["schemas"]["LoginAnswer"]["required"] == ["cart_total", "refresh", "token"]
    assert spec["components"]["schemas"]["Error"]["required"] == ["code", "detail"]
    page = spec["paths"]["/"]["get"]["responses"]["200"]["content"]
    assert page == {"text/html": {"schema": {"type": "string"}}}
