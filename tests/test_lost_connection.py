"""The database server ends a connection while a request holds a transaction on it.

The request's answer is decided by then (a refused password is a 401); the end of
the request's transaction must not turn it into an exception that escapes Flask (under
gunicorn: its HTML "Internal Server Error" page). Runs on PostgreSQL and MariaDB, where
another connection can end a session's backend (``LUFFY_TEST_DATABASE_URL``).
"""

import time

import pytest
from flask import request
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.accounts import PASSWORD
from tests.backends import DATABASE_URL

pytestmark = pytest.mark.skipif(
    not DATABASE_URL or not DATABASE_URL.startswith(("postgresql", "mysql")),
    reason="needs LUFFY_TEST_DATABASE_URL on PostgreSQL or MariaDB")

POSTGRES = bool(DATABASE_URL) and DATABASE_URL.startswith("postgresql")
OWN_ID = "SELECT pg_backend_pid()" if POSTGRES else "SELECT CONNECTION_ID()"
ALIVE = ("SELECT count(*) FROM pg_stat_activity WHERE pid = :id" if POSTGRES
         else "SELECT count(*) FROM information_schema.processlist WHERE id = :id")


# A PostgreSQL login holds no transaction (luffy.speed.autocommit_session: its read and
# its write run in autocommit), so its refused case is cut under a refused HTTP Basic
# request, which still does; on MariaDB the login itself holds one.
REFUSED = (("get", "/users/me", {"headers": {"Authorization": "Basic YWxpY2U6d3Jvbmc="}})
           if POSTGRES else ("post", "/users/login/", {"json": {"username": "alice",
                                                                "password": "wrong"}}))
CUT_ENDPOINTS = ("auth.login", "auth.me")


def end_backend(backend_id):
    """End the server session ``backend_id`` from another connection; wait until it is gone."""
    url = DATABASE_URL.replace("postgresql://", "postgresql+psycopg://", 1).replace(
        "mysql://", "mysql+pymysql://", 1)
    # Autocommit: PostgreSQL keeps one snapshot of pg_stat_activity per transaction.
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as other:
            if POSTGRES:
                other.execute(text("SELECT pg_terminate_backend(:id)"), {"id": backend_id})
            else:
                other.execute(text(f"KILL {int(backend_id)}"))
            deadline = time.monotonic() + 10
            while other.execute(text(ALIVE), {"id": backend_id}).scalar():
                assert time.monotonic() < deadline, "the server session did not end"
                time.sleep(0.05)
    finally:
        engine.dispose()


@pytest.fixture
def cut_app(make_app, make_user):
    """An app whose server ends each login's database session once its answer is made."""
    from luffy.extensions import db

    app = make_app()
    make_user()

    @app.after_request
    def end_the_session_under_the_transaction(response):
        if request.endpoint in CUT_ENDPOINTS and app.config.get("CUT_LOGINS"):
            end_backend(db.session.execute(text(OWN_ID)).scalar())
        return response

    return app


def test_refused_login_whose_connection_died_still_answers_401(cut_app, caplog):
    client = cut_app.test_client()
    cut_app.config["CUT_LOGINS"] = True
    method, path, kwargs = REFUSED  # alice:wrong
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code == 401, response.data
    assert response.get_json()["code"] == "authentication_failed"
    assert any("connection" in r.getMessage() and r.name == "luffy.database"
               for r in caplog.records)

    cut_app.config["CUT_LOGINS"] = False
    for _ in range(3):  # the dead connection is gone from the pool: the next logins work
        response = client.post("/users/login/", json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 200, response.data


def test_successful_login_whose_connection_died_after_its_commit_answers_200(cut_app):
    client = cut_app.test_client()
    cut_app.config["CUT_LOGINS"] = True
    response = client.post("/users/login/", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200, response.data
    tokens = response.get_json()
    cut_app.config["CUT_LOGINS"] = False
    # The commit happened before the cut: the refresh token is stored.
    response = client.post("/users/login/refresh", json={"refresh": tokens["refresh"]})
    assert response.status_code == 200, response.data
