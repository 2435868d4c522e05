"""Every failure of every layer answers ``{"code", "detail"}`` as JSON."""

import logging

import pytest
from sqlalchemy.exc import OperationalError

from luffy import create_app
from luffy.core import authentication


def test_unknown_path_is_not_found(client):
    response = client.get("/users/nope")
    assert response.status_code == 404
    assert response.get_json() == {"code": "not_found", "detail": "Not found."}


@pytest.mark.parametrize("method, path", [("GET", "/users/login/"), ("GET", "/users/login"),
                                          ("PUT", "/users/logout"), ("DELETE", "/users/me"),
                                          ("GET", "/users/login/refresh")])
def test_wrong_method_is_method_not_allowed(client, method, path):
    response = client.open(path, method=method)
    assert response.status_code == 405
    assert response.get_json()["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"] or "GET" in response.headers["Allow"]


def test_post_to_a_slashless_path_is_not_redirected(client, user):
    response = client.post("/users/login", json={"username": "alice", "password": "x"})
    assert response.status_code == 401


def test_unexpected_exception_is_a_logged_500(make_app, monkeypatch, caplog):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    def boom(*_):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(authentication, "authenticate", boom)
    with caplog.at_level(logging.ERROR):
        response = app.test_client().post("/users/login/", json={"username": "a", "password": "b"})
    assert response.status_code == 500
    assert response.get_json() == {"code": "server_error", "detail": "A server error occurred."}
    assert "secret internals" not in response.get_data(as_text=True)
    assert "secret internals" in caplog.text and "Traceback" in caplog.text


def test_database_outage_is_503(make_app, monkeypatch):
    app = make_app(PROPAGATE_EXCEPTIONS=False)

    def down(*_):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(authentication, "authenticate", down)
    response = app.test_client().post("/users/login/", json={"username": "a", "password": "b"})
    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == "service_unavailable" and "database" in body["detail"]


def test_unreachable_database_is_503_not_500():
    app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "postgresql://nobody@127.0.0.1:1/none",
                                 "PROPAGATE_EXCEPTIONS": False})
    response = app.test_client().post("/users/login/", json={"username": "a", "password": "b"})
    assert response.status_code == 503
    assert response.get_json()["code"] == "service_unavailable"


def test_healthz_and_readyz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok", "cart_redis": "ok"}


def test_readyz_names_what_failed(make_app):
    from luffy.redis_clients import redis_from_url
    app = make_app()
    app.extensions["luffy_redis"]["cart"] = redis_from_url("redis://127.0.0.1:1/0", 0.2)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == "service_unavailable" and "cart_redis" in body["detail"]
    assert body["checks"]["cart_redis"] == "unavailable" and body["checks"]["database"] == "ok"


def test_database_errors_never_carry_their_parameters(app):
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["hide_parameters"] is True
    from luffy.extensions import db
    with app.app_context():
        assert db.engine.hide_parameters
