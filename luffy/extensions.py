"""The extensions, created unbound here and bound to the app in the factory."""

import ipaddress
import logging

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from flask import current_app, request
from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
import flask_sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

log = logging.getLogger(__name__)


class Base(DeclarativeBase):
    """Declarative base of every model."""


def client_address():
    """The client's address as ProxyFix left it (the trusted proxies already peeled off)."""
    return request.remote_addr or "unknown"


IPV6_CLIENT_PREFIX = 64  # one IPv6 client (a home, a host) gets a /64: endless addresses


def address_key(address=None):
    """The key every per-address throttle counts ``address`` (default: this request's
    client) under: an IPv4 address whole, an IPv6 address by its /64 (IPv4-mapped IPv6,
    ``::ffff:a.b.c.d``, is the IPv4 address); anything else as it is."""
    if address is None:
        address = client_address()
    if ":" not in address:
        return address  # IPv4 (or no address at all): its own key
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))


MYSQL_QUERY_TIMEOUT = 10  # seconds a MySQL read or write may take once connected


@event.listens_for(Engine, "connect")
def _mysql_query_timeouts(dbapi_connection, _record):
    """Lengthen PyMySQL's timeouts after the handshake, which ran under the connect timeout."""
    if type(dbapi_connection).__module__ == "pymysql.connections":  # without importing PyMySQL
        dbapi_connection._read_timeout = dbapi_connection._write_timeout = MYSQL_QUERY_TIMEOUT


def end_transaction(_exc=None):
    """Roll back what the request left open; a connection the server closed is logged only.

    Flask-SQLAlchemy ends each request with ``session.remove()``, whose rollback runs
    after the answer is made and outside Flask's error handling: on a connection the
    server closed meanwhile (a restart, an ended backend) its error would escape to
    gunicorn, which answers its HTML error page. ``Session.rollback()`` releases the
    connection even when the rollback fails (SQLAlchemy invalidates a connection that
    died, and the pool with it), so ``remove()`` then finds nothing left to do. The
    answer stands: what the request had not committed is gone either way.
    """
    if not db.session.registry.has():
        return  # this request never used the database
    db.session.expunge_all()  # objects leave as close() leaves them: loaded, not expired
    try:
        db.session.rollback()
    except SQLAlchemyError as e:
        if isinstance(e, DBAPIError) and e.connection_invalidated:
            log.warning("database connection lost at the end of a request: %s",
                        e.orig.__class__.__name__)
        else:
            log.error("rollback at the end of a request failed", exc_info=e)


class SQLAlchemy(flask_sqlalchemy.SQLAlchemy):
    """Flask-SQLAlchemy, whose end of request survives a connection the server closed."""

    def init_app(self, app):
        """Flask-SQLAlchemy's setup, then :func:`end_transaction` at each context's end."""
        super().init_app(app)
        # Flask runs teardown functions in reverse order of registration: this one runs
        # before Flask-SQLAlchemy's own ``session.remove()``.
        app.teardown_appcontext(end_transaction)


# A request is one unit of work: attributes need no reload from the database after a
# commit (that reload cost a checkout, a pre-ping and a SELECT on every login).
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
jwt = JWTManager()
limiter = Limiter(key_func=address_key)
cors = CORS()


def redis_from_url(url, timeout):
    """A client that fails fast: short timeouts, one immediate retry (a stale socket)."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 1),
        health_check_interval=30, decode_responses=True,
    )


class Redis:
    """Holds the process's Redis clients in ``app.extensions["luffy_redis"]``.

    ``main`` keeps the throttle counters and the access-token denylist, ``cart`` the
    carts. Without a URL both are one in-process fakeredis server, so the service
    runs with no Redis installed. Tests may hand in clients of their own.
    """

    def init_app(self, app, main=None, cart=None):
        """Create (or take) the clients once per process."""
        timeout = app.config["REDIS_TIMEOUT"]
        fake_server = None

        def connect(url):
            nonlocal fake_server
            if url:
                return redis_from_url(url, timeout)
            import fakeredis  # only the embedded default pays for importing it

            fake_server = fake_server or fakeredis.FakeServer()
            return fakeredis.FakeRedis(server=fake_server, decode_responses=True)

        main = main or connect(app.config["REDIS_URL"])
        if cart is None:
            cart_url = app.config["CART_REDIS_URL"]
            cart = connect(cart_url) if cart_url else main
        app.extensions["luffy_redis"] = {"main": main, "cart": cart}

    @property
    def main(self):
        """The client of ``REDIS_URL``."""
        return current_app.extensions["luffy_redis"]["main"]

    @property
    def cart(self):
        """The client of ``CART_REDIS_URL``."""
        return current_app.extensions["luffy_redis"]["cart"]


redis_clients = Redis()
