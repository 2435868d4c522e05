"""The database plumbing: Flask-SQLAlchemy, an end of request that survives a lost
connection, and what each app's engine is given when it is built.

Per engine, in :meth:`SQLAlchemy.init_app`, never process-wide: PyMySQL connections get
query timeouts once connected, and PostgreSQL's pooled connections are checked at
checkout by polling their socket (:func:`luffy.speed.replace_connections_the_server_closed`)
instead of a ``SELECT 1`` (MySQL keeps ``pool_pre_ping``: ``config.py``).
"""

import logging

import flask_sqlalchemy
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase

log = logging.getLogger(__name__)

MYSQL_QUERY_TIMEOUT = 10  # seconds a MySQL read or write may take once connected


class Base(DeclarativeBase):
    """Declarative base of every model."""


def _mysql_query_timeouts(dbapi_connection, _record):
    """Lengthen PyMySQL's timeouts after the handshake, which ran under the connect timeout."""
    dbapi_connection._read_timeout = dbapi_connection._write_timeout = MYSQL_QUERY_TIMEOUT


class SQLAlchemy(flask_sqlalchemy.SQLAlchemy):
    """Flask-SQLAlchemy, whose end of request survives a connection the server closed,
    and whose engines get luffy's per-driver connection settings."""

    def init_app(self, app):
        """Flask-SQLAlchemy's setup, the engine's listeners, then :meth:`end_transaction`
        at each context's end."""
        super().init_app(app)
        with app.app_context():
            self._listen(self.engine)
        # Flask runs teardown functions in reverse order of registration: this one runs
        # before Flask-SQLAlchemy's own ``session.remove()``.
        app.teardown_appcontext(self.end_transaction)

    @staticmethod
    def _listen(engine):
        from luffy import speed

        if engine.dialect.driver == "pymysql":
            event.listen(engine, "connect", _mysql_query_timeouts)
        elif engine.dialect.driver == "psycopg":
            event.listen(engine.pool, "checkout", speed.replace_connections_the_server_closed)

    def end_transaction(self, _exc=None):
        """Roll back what the request left open; a connection the server closed is logged only.

        Flask-SQLAlchemy ends each request with ``session.remove()``, whose rollback runs
        after the answer is made and outside Flask's error handling: on a connection the
        server closed meanwhile (a restart, an ended backend) its error would escape to
        gunicorn, which answers its HTML error page. ``Session.rollback()`` releases the
        connection even when the rollback fails (SQLAlchemy invalidates a connection that
        died, and the pool with it), so ``remove()`` then finds nothing left to do. The
        answer stands: what the request had not committed is gone either way.
        """
        if not self.session.registry.has():
            return  # this request never used the database
        self.session.expunge_all()  # objects leave as close() leaves them: loaded, not expired
        try:
            self.session.rollback()
        except SQLAlchemyError as e:
            if isinstance(e, DBAPIError) and e.connection_invalidated:
                log.warning("database connection lost at the end of a request: %s",
                            e.orig.__class__.__name__)
            else:
                log.error("rollback at the end of a request failed", exc_info=e)
