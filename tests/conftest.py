"""Fixtures: an app on SQLite + fakeredis, or on the real PostgreSQL/MariaDB and Redis.

Set ``LUFFY_TEST_DATABASE_URL`` (a database of the tests' own: it is wiped) and
``LUFFY_TEST_REDIS_URL`` (a Redis DB number of their own: it is flushed) to run
every test against real servers; ``.ci/run`` does.
"""

import os
from base64 import b64encode

import fakeredis
import pytest
import redis
from flask_migrate import upgrade
from sqlalchemy import text

from luffy import create_app
from luffy.core import accounts
from luffy.core.models import RefreshToken, User
from luffy.extensions import db
from luffy.legacy.models import LegacyAccount, LegacyBlacklistedToken
from tests.servers import BROKER_URL

DATABASE_URL = os.environ.get("LUFFY_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("LUFFY_TEST_REDIS_URL")
PASSWORD = "correct horse battery"
# What a production start needs besides its secret: no development-only message backend,
# and a broker (never connected to unless a message is sent).
PRODUCTION_MESSAGES = {"MAIL_SERVER": "127.0.0.1", "SMS_BACKEND": "webhook",
                       "SMS_WEBHOOK_URL": "http://127.0.0.1:9/sms", "CELERY_BROKER_URL": BROKER_URL}


def pytest_report_header():
    return f"luffy: database {DATABASE_URL or 'sqlite (memory)'}, redis {REDIS_URL or 'fakeredis'}"


@pytest.fixture(scope="session")
def migrated():
    """On a real database: drop everything, then build the schema with the migrations."""
    if DATABASE_URL:
        app = create_app("testing", {"SQLALCHEMY_DATABASE_URI": DATABASE_URL})
        with app.app_context():
            db.drop_all()
            db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
            db.session.commit()
            upgrade()
            db.engine.dispose()
    return True


@pytest.fixture
def redis_client():
    """The Redis the app under test uses: real (flushed) or fake."""
    if REDIS_URL:
        client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
        client.flushdb()
        yield client
        client.close()
    else:
        yield fakeredis.FakeRedis(decode_responses=True)


@pytest.fixture
def make_app(migrated, redis_client):
    """Build apps with config ``overrides``; each starts with empty tables."""
    made = []

    def make(redis_main=None, **overrides):
        """``redis_main``: a client of the main Redis other than the tests' own (a dead one)."""
        settings = {"SQLALCHEMY_DATABASE_URI": DATABASE_URL or "sqlite://"}
        if REDIS_URL:
            settings["REDIS_URL"] = REDIS_URL
        settings.update(overrides)
        app = create_app("testing", settings, redis_main=redis_main or redis_client,
                         redis_cart=redis_client)
        with app.app_context():
            if DATABASE_URL:
                db.session.execute(RefreshToken.__table__.delete())
                db.session.execute(LegacyAccount.__table__.delete())
                db.session.execute(LegacyBlacklistedToken.__table__.delete())
                db.session.execute(User.__table__.delete())
                db.session.commit()
            else:
                db.create_all()
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    """The app in the testing configuration."""
    return make_app()


@pytest.fixture
def client(app):
    """A test client of ``app``."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """A CLI runner of ``app``."""
    return app.test_cli_runner()


def add_user(app, username="alice", password=PASSWORD, email="Alice@Example.com",
             mobile="13800000001", **profile):
    """Create an account in ``app`` through the service that the CLI uses; detached."""
    with app.app_context():
        user = accounts.create(username, password, email=email, mobile=mobile, **profile)
        db.session.refresh(user)
        db.session.expunge(user)
        return user


@pytest.fixture
def make_user(app):
    """Create accounts in ``app``."""
    return lambda *args, **kwargs: add_user(app, *args, **kwargs)


@pytest.fixture
def user(make_user):
    """One active account, alice."""
    return make_user(nickname="Alice", money="12.50", credit=30)


class AuthActions:
    """Log in for real and build the headers of authenticated requests."""

    def __init__(self, client):
        self.client = client

    def login(self, username="alice", password=PASSWORD, **kwargs):
        """POST the login form as JSON; returns the response."""
        return self.client.post("/users/login/", json={"username": username, "password": password},
                                **kwargs)

    def tokens(self, username="alice", password=PASSWORD):
        """The login answer; fails the test if the login fails."""
        response = self.login(username, password)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def headers(self, username="alice", password=PASSWORD):
        """``Authorization: Bearer`` with a fresh access token."""
        return {"Authorization": f"Bearer {self.tokens(username, password)['token']}"}

    @staticmethod
    def basic(username="alice", password=PASSWORD):
        """``Authorization: Basic``."""
        return {"Authorization": "Basic " + b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture
def auth(client):
    """Login helpers that really log in."""
    return AuthActions(client)


@pytest.fixture
def auth_headers(auth, user):
    """Bearer headers of alice."""
    return auth.headers()


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server (``tests/throwaway.py``) that a test may stop."""
    from tests import throwaway

    server = throwaway.Postgres()
    yield server
    server.destroy()


@pytest.fixture
def redis_server():
    """A throwaway Redis server that a test may kill, freeze and restart."""
    from tests import throwaway

    server = throwaway.Redis()
    yield server
    server.destroy()
