"""What the token paths ask of the database: one indexed read each, and on PostgreSQL
outside a transaction (no BEGIN/ROLLBACK round trips); writes keep their transaction."""

import pytest

from luffy.extensions import db
from tests.accounts import PASSWORD


def kinds(statements):
    """``(first word, isolation level)`` of each of ``statements``."""
    return [(s.sql.split()[0], s.isolation_level) for s in statements]


@pytest.fixture
def read_mode(app):
    """How a read-only request's statements run on this database."""
    with app.app_context():
        return "AUTOCOMMIT" if db.engine.dialect.name == "postgresql" else None


def test_me_reads_one_row(client, auth_headers, statements, read_mode):
    statements.clear()
    assert client.get("/users/me", headers=auth_headers).status_code == 200
    assert kinds(statements) == [("SELECT", read_mode)]


def test_refresh_reads_one_row(client, auth, user, statements, read_mode):
    refresh = auth.tokens()["refresh"]
    statements.clear()
    assert client.post("/users/login/refresh", json={"refresh": refresh}).status_code == 200
    assert kinds(statements) == [("SELECT", read_mode)]


def test_verify_reads_nothing_for_an_access_token(client, auth, user, statements, read_mode):
    tokens = auth.tokens()
    statements.clear()
    assert client.post("/users/login/verify", json={"token": tokens["token"]}).status_code == 200
    assert kinds(statements) == []
    assert client.post("/users/login/verify", json={"token": tokens["refresh"]}).status_code == 200
    assert kinds(statements) == [("SELECT", read_mode)]


def test_a_password_change_writes_in_one_transaction(client, auth_headers, statements, read_mode):
    statements.clear()
    answer = client.post("/users/password", headers=auth_headers,
                         json={"old_password": PASSWORD, "new_password": "a brand new password"})
    assert answer.status_code == 200, answer.get_json()
    # The token's check reads the account as every protected endpoint does; then, in one
    # transaction: the account, its row locked against a concurrent rotation (its token
    # version read under the lock), the security log's entry, its new password and
    # version, its sessions, its refresh tokens.
    guard, *change = kinds(statements)
    assert guard == ("SELECT", read_mode)
    assert [word for word, _ in change] == ["SELECT", "SELECT", "INSERT", "UPDATE", "UPDATE",
                                            "UPDATE"]
    assert {mode for _, mode in change} == {None}  # not autocommit: all or nothing


def test_a_login_reads_twice_and_writes_twice(client, auth, user, statements, read_mode, app):
    auth.tokens()  # the account's first device: the one this login comes from
    statements.clear()
    tokens = auth.tokens()
    if read_mode == "AUTOCOMMIT":
        # Three round trips: the account, the device (known, seen today: no write), then
        # the session's row, the refresh token's, the security log's login event and
        # last_login in one WITH ... INSERT ... UPDATE; each atomic alone, so no BEGIN and
        # no COMMIT.
        assert kinds(statements) == [("SELECT", "AUTOCOMMIT"), ("SELECT", "AUTOCOMMIT"),
                                     ("WITH", "AUTOCOMMIT")]
    else:
        # The account; the device; the event, the session, the refresh token; last_login.
        assert [word for word, _ in kinds(statements)] == ["SELECT", "SELECT", "INSERT",
                                                           "INSERT", "INSERT", "UPDATE"]
        assert {mode for _, mode in kinds(statements)} == {None}
    # Every write landed: the refresh token works, the login was recorded and logged.
    assert client.post("/users/login/refresh", json={"refresh": tokens["refresh"]}).status_code == 200
    with app.app_context():
        from luffy.core.models import Event, RefreshToken, User

        assert db.session.get(User, user.id).last_login is not None
        # Two logins (the first made the device known), each logged.
        logged = db.session.query(Event).order_by(Event.id).all()
        assert [(e.account_id, e.type, e.method) for e in logged] == \
            [(user.id, "login", "password")] * 2
        assert all(e.ip == "127.0.0.1" and e.at is not None for e in logged)
        assert db.session.query(RefreshToken).filter_by(user_id=user.id).count() == 2
