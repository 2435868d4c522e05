"""What the token paths ask of the database: one indexed read each, and on PostgreSQL
outside a transaction (no BEGIN/ROLLBACK round trips); writes keep their transaction."""

import pytest
from sqlalchemy import event

from luffy.extensions import db
from tests.conftest import PASSWORD


@pytest.fixture
def statements(app):
    """``(first word, isolation level)`` of every statement the app runs from now on.

    On PostgreSQL they are counted where psycopg takes them, its cursors (pooled
    connections get a recording ``cursor_factory`` while they are checked out): the
    one-row reads of ``luffy.speed.CompiledRead`` go to the driver without SQLAlchemy's
    execution events. A statement in autocommit is ``AUTOCOMMIT``, as SQLAlchemy names
    the isolation level that sets it; psycopg sends ``BEGIN`` before the first statement
    that is not. Other drivers: SQLAlchemy's ``before_cursor_execute``.
    """
    seen = []
    with app.app_context():
        engine = db.engine
    if engine.dialect.driver == "psycopg":
        import psycopg

        class Recording(psycopg.Cursor):
            def execute(self, query, params=None, **kwargs):
                mode = "AUTOCOMMIT" if self.connection.autocommit else None
                seen.append((str(query).split()[0], mode))
                return super().execute(query, params, **kwargs)

        def checkout(dbapi_connection, _record, _proxy):
            dbapi_connection.cursor_factory = Recording

        def checkin(dbapi_connection, _record):
            if dbapi_connection is not None:
                dbapi_connection.cursor_factory = psycopg.Cursor

        listeners = [(engine.pool, "checkout", checkout), (engine.pool, "checkin", checkin)]
    else:
        def record(conn, _cursor, statement, _params, _context, _executemany):
            seen.append((statement.split()[0], conn.get_execution_options().get("isolation_level")))

        listeners = [(engine, "before_cursor_execute", record)]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    yield seen
    for target, name, listener in listeners:
        event.remove(target, name, listener)


@pytest.fixture
def read_mode(app):
    """How a read-only request's statements run on this database."""
    with app.app_context():
        return "AUTOCOMMIT" if db.engine.dialect.name == "postgresql" else None


def test_me_reads_one_row(client, auth_headers, statements, read_mode):
    statements.clear()
    assert client.get("/users/me", headers=auth_headers).status_code == 200
    assert statements == [("SELECT", read_mode)]


def test_refresh_reads_one_row(client, auth, user, statements, read_mode):
    refresh = auth.tokens()["refresh"]
    statements.clear()
    assert client.post("/users/login/refresh", json={"refresh": refresh}).status_code == 200
    assert statements == [("SELECT", read_mode)]


def test_verify_reads_nothing_for_an_access_token(client, auth, user, statements, read_mode):
    tokens = auth.tokens()
    statements.clear()
    assert client.post("/users/login/verify", json={"token": tokens["token"]}).status_code == 200
    assert statements == []
    assert client.post("/users/login/verify", json={"token": tokens["refresh"]}).status_code == 200
    assert statements == [("SELECT", read_mode)]


def test_a_password_change_writes_in_one_transaction(client, auth_headers, statements, read_mode):
    statements.clear()
    answer = client.post("/users/password", headers=auth_headers,
                         json={"old_password": PASSWORD, "new_password": "a brand new password"})
    assert answer.status_code == 200, answer.get_json()
    # The token's check reads the account as every protected endpoint does; then, in one
    # transaction: the account, its row locked against a concurrent rotation (its token
    # version read under the lock), the security log's entry, its new password and
    # version, its sessions, its refresh tokens.
    guard, *change = statements
    assert guard == ("SELECT", read_mode)
    assert [word for word, _ in change] == ["SELECT", "SELECT", "INSERT", "UPDATE", "UPDATE",
                                            "UPDATE"]
    assert {mode for _, mode in change} == {None}  # not autocommit: all or nothing


def test_a_login_reads_twice_and_writes_twice(client, auth, user, statements, read_mode, app):
    auth.tokens()  # the account's first device: the one this login comes from
    statements.clear()
    tokens = auth.tokens()
    if read_mode == "AUTOCOMMIT":
        # Four round trips: the account, the security log's login event, the device (known,
        # seen today: no write), then the session's row, the refresh token's and
        # last_login in one WITH ... INSERT ... UPDATE; each atomic alone, so no BEGIN and
        # no COMMIT.
        assert statements == [("SELECT", "AUTOCOMMIT"), ("INSERT", "AUTOCOMMIT"),
                              ("SELECT", "AUTOCOMMIT"), ("WITH", "AUTOCOMMIT")]
    else:
        # The account; the event (flushed before the next read); the device; the session,
        # the refresh token; last_login.
        assert [word for word, _ in statements] == ["SELECT", "INSERT", "SELECT", "INSERT",
                                                    "INSERT", "UPDATE"]
        assert {mode for _, mode in statements} == {None}
    # Both writes landed: the refresh token works, and the login was recorded.
    assert client.post("/users/login/refresh", json={"refresh": tokens["refresh"]}).status_code == 200
    with app.app_context():
        from luffy.core.models import RefreshToken, User

        assert db.session.get(User, user.id).last_login is not None
        assert db.session.query(RefreshToken).filter_by(user_id=user.id).count() == 2
