"""CORS: only the configured origins may call the API, with credentials."""

import pytest

ALLOWED = "https://courses.example.com"
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type, x-csrf-token"}


@pytest.fixture
def cors_client(make_app):
    return make_app(CORS_ORIGINS=[ALLOWED]).test_client()


def test_preflight_from_an_allowed_origin(cors_client):
    response = cors_client.options("/users/login/", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "x-csrf-token" in response.headers["Access-Control-Allow-Headers"].lower()


def test_answers_to_an_allowed_origin_expose_retry_after(cors_client, user):
    response = cors_client.post("/users/login/", json={"username": "alice", "password": "x"},
                                headers={"Origin": ALLOWED})
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]


def test_other_origins_get_no_cors_headers(cors_client):
    response = cors_client.options("/users/login/",
                                   headers={"Origin": "https://evil.example", **PREFLIGHT})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_no_origin_is_allowed_by_default(client):
    response = client.options("/users/login/", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert "Access-Control-Allow-Origin" not in response.headers
