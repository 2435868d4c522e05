"""Fixtures: an app on SQLite + fakeredis, or on the real PostgreSQL/MariaDB and Redis
that ``LUFFY_TEST_DATABASE_URL`` and ``LUFFY_TEST_REDIS_URL`` name (``tests/backends.py``).

Fixtures live here; the helpers that tests import live in plain modules beside it:
``accounts.py`` (accounts, logging in, codes), ``backends.py`` (the URLs),
``servers.py`` (gunicorn and Celery workers), ``standins.py`` (the message
providers), ``throwaway.py`` (servers a test may stop).
"""

import copy
from collections import namedtuple

import fakeredis
import pytest
import redis
from flask_migrate import upgrade
from sqlalchemy import event, text

from luffy import create_app, openapi
from luffy.core.models import Event, RefreshToken, User
from luffy.extensions import db
from luffy.legacy.models import LegacyAccount, LegacyBlacklistedToken
from tests.accounts import AuthActions, Outbox, add_user
from tests.backends import DATABASE_URL, REDIS_URL
from tests.standins import SmsProvider


def pytest_report_header():
    return f"luffy: database {DATABASE_URL or 'sqlite (memory)'}, redis {REDIS_URL or 'fakeredis'}"


@pytest.fixture(scope="session", autouse=True)
def one_document_per_route_table():
    """Build the OpenAPI document once per route table, not once per app.

    ``luffy.openapi.build_spec`` reads nothing but the routes and their views, and the
    suite builds a thousand apps with one table: the document was half the cost of
    each. A table not seen before (a test's own views) is built for real, each app
    gets its own copy, and ``test_openapi.py`` tests ``build_spec`` itself.
    """
    build = getattr(openapi, "build_spec", None)
    if build is None:  # luffy no longer builds it per app: nothing to save
        yield
        return
    built = {}

    def build_spec(app):
        table = tuple((rule.rule, rule.endpoint, frozenset(rule.methods or ()),
                       app.view_functions[rule.endpoint]) for rule in app.url_map.iter_rules())
        if table not in built:
            built[table] = build(app)
        return copy.deepcopy(built[table])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(openapi, "build_spec", build_spec)
        yield


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
                db.session.execute(Event.__table__.delete())
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


@pytest.fixture
def make_user(app):
    """Create accounts in ``app``."""
    return lambda *args, **kwargs: add_user(app, *args, **kwargs)


@pytest.fixture
def user(make_user):
    """One active account, alice, with a profile."""
    return make_user(nickname="Alice", money="12.50", credit=30)


@pytest.fixture
def alice(client):
    """alice, bare, created in the app of ``client`` (which a module may override)."""
    return add_user(client.application)


@pytest.fixture
def auth(client):
    """Login helpers that really log in."""
    return AuthActions(client)


@pytest.fixture
def auth_headers(auth, user):
    """Bearer headers of alice."""
    return auth.headers()


@pytest.fixture
def outbox(caplog):
    """What the log backends sent."""
    return Outbox(caplog)


Statement = namedtuple("Statement", "sql isolation_level")


@pytest.fixture
def statements(app):
    """Every SQL statement the app runs from now on, with the isolation level it ran at.

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
                seen.append(Statement(str(query), "AUTOCOMMIT" if self.connection.autocommit else None))
                return super().execute(query, params, **kwargs)

        def checkout(dbapi_connection, _record, _proxy):
            dbapi_connection.cursor_factory = Recording

        def checkin(dbapi_connection, _record):
            if dbapi_connection is not None:
                dbapi_connection.cursor_factory = psycopg.Cursor

        listeners = [(engine.pool, "checkout", checkout), (engine.pool, "checkin", checkin)]
    else:
        def record(conn, _cursor, sql, _params, _context, _executemany):
            seen.append(Statement(sql, conn.get_execution_options().get("isolation_level")))

        listeners = [(engine, "before_cursor_execute", record)]
    for target, name, listener in listeners:
        event.listen(target, name, listener)
    yield seen
    for target, name, listener in listeners:
        event.remove(target, name, listener)


@pytest.fixture
def gateway():
    """An SMS gateway stand-in (``tests/standins.py``) for the webhook backend."""
    provider = SmsProvider()
    yield provider
    provider.close()


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
