"""The speed tricks of luffy, in one place; bench/PROFILE.md has what each one saves.

- **Single reads outside the ORM session** (:func:`read_row`): on PostgreSQL in
  autocommit, with no ``BEGIN``/``ROLLBACK`` round trips.
- **Pooled PostgreSQL connections are checked by polling their socket**, not by a
  ``SELECT 1`` per checkout (:func:`replace_connections_the_server_closed`, registered
  on the app's engine by ``luffy.database``).
- **Libraries few requests need are imported on first use**, at the one place that
  uses them: zxcvbn (``core/strength.py``, 12 MB), requests (``core/senders.py``),
  Flask-Migrate (``flask db`` only, ``luffy/__init__.py``), Celery with kombu, the tasks
  and the senders (``luffy.worker.celery_of``, from ``messages.enqueue`` and
  ``wsgi.celery``: 10 MB a web worker that queues nothing never loads).
- **The import from the old backend** (``luffy/legacy/importer.py``) writes new rows with
  ``COPY`` on PostgreSQL (:func:`bulk_insert`) and looks a batch's values up with one
  array parameter (:func:`matching`): psycopg parses a statement of thousands of
  placeholders slower than the server runs it. A thread reads the old database's next
  batch while luffy's database writes this one (:func:`read_ahead`).
- **argon2id checks reuse one heap block**: a process setting, so it lives in the
  server's configuration (``gunicorn.conf.py``, or ``GLIBC_TUNABLES``: README).
- **One-row reads compiled once, on the pool's DBAPI connection** (:class:`CompiledRead`):
  ``/users/me``, refresh and verify of a refresh token skip SQLAlchemy's execution and
  result machinery on PostgreSQL; SQLite and MariaDB take :func:`read_row`.
- **Tokens are short** (:func:`token_id`, ``JWT_ENCODE_NBF`` off in ``config.py``): PyJWT
  checks every base64 character of a token on each decode (about 1,300 instructions a
  character), so a token's and a session's id are 22 URL-safe characters (128 random
  bits), not a 36-character UUID, and no ``nbf`` repeats ``iat``.
- **HMAC keys are checked once** (:class:`PreparedHMAC`): PyJWT validates an HS key on
  every encode and decode (is it PEM, SSH, DER, a certificate, JSON?); the HS
  algorithms are registered again (PyJWT's ``register_algorithm``) with a class that
  remembers the keys it has accepted.
- **A login writes in one statement** (:func:`record_login`, :func:`autocommit_session`):
  on PostgreSQL the session's row, the refresh token's, the security log's entry and
  ``last_login`` go in one ``WITH ... INSERT`` ``UPDATE``, and the login's read and write
  each run in autocommit: two round trips.
"""

import queue
import secrets
import select
import threading
import weakref
from collections import namedtuple
from contextlib import closing

import jwt
from jwt.algorithms import HMACAlgorithm
from sqlalchemy import String, any_, bindparam, insert, or_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm.attributes import set_committed_value

from luffy.core.models import Event, RefreshToken, Session, User
from luffy.extensions import db


def read_row(statement, params):
    """The first row of the read-only ``statement`` with ``params``, or None.

    On a pooled connection of its own, outside the request's ORM session: no session to
    begin, no identity map, no transaction to roll back when the request ends. On
    PostgreSQL in autocommit, a client-side switch: one round trip, no ``BEGIN`` or
    ``ROLLBACK``. For a view whose one read is all it asks of the database (``/users/me``,
    a refresh without rotation, verify of a refresh token). Other drivers run it as any
    read: PyMySQL would spend a ``SET autocommit`` round trip each way.
    """
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="AUTOCOMMIT")
        return connection.execute(statement, params).first()


def replace_connections_the_server_closed(dbapi_connection, _record, _proxy):
    """SQLAlchemy's pessimistic disconnect check, for PostgreSQL without a round trip.

    An idle PostgreSQL connection receives nothing unless the server ends it (a restart,
    a terminated backend): then its socket is readable, with the notice or the EOF.
    ``DisconnectionError`` makes the pool replace the connection, so the first request
    after a database restart succeeds.
    """
    try:
        poll = select.poll()
        poll.register(dbapi_connection.fileno(), select.POLLIN)
        closed = bool(poll.poll(0))
    except Exception as e:  # a connection closed on our side has no socket left
        raise DisconnectionError(str(e)) from e
    if closed:
        raise DisconnectionError("the server closed the connection")


def token_id():
    """A new token id (``jti``; a login's is its session's id too): 128 random bits in 22
    URL-safe characters."""
    return secrets.token_urlsafe(16)


class CompiledRead:
    """A one-row read-only ``statement``, compiled once per engine; :meth:`first` runs it.

    On PostgreSQL the compiled SQL goes straight to the pool's psycopg connection
    (``engine.raw_connection()``), in autocommit, a client-side switch: one round trip,
    and none of SQLAlchemy's per-execution work (the cache key, the execution context,
    the result object). The pool still checks the connection out and back in (with its
    checkout listener and its reset). Columns whose type converts a result
    (a ``TypeDecorator``, say) are converted as SQLAlchemy would; a driver error is raised
    as SQLAlchemy's :class:`~sqlalchemy.exc.DBAPIError`, as on any other path. Other
    databases take :func:`read_row`. Either way the row is a named tuple of the
    statement's column keys.
    """

    def __init__(self, statement):
        self.statement = statement
        self.Row = namedtuple("Row", [column.key for column in statement.selected_columns])
        # Per engine (an app's), kept no longer than the engine.
        self._compiled = weakref.WeakKeyDictionary()  # engine -> its SQL
        self._processors = weakref.WeakKeyDictionary()  # engine -> result processors, below

    def first(self, params):
        """The first row for ``params``, or None."""
        engine = db.engine
        if engine.dialect.driver != "psycopg":
            row = read_row(self.statement, params)
            return None if row is None else self.Row._make(row)
        dialect = engine.dialect
        sql = self._compiled.get(engine)
        if sql is None:
            sql = self._compiled[engine] = str(self.statement.compile(dialect=dialect))
        try:  # the pool's connect raises the driver's own error when the server is down
            proxied = engine.raw_connection()
        except dialect.loaded_dbapi.Error as e:
            raise DBAPIError.instance(None, None, e, dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=dialect,
                                      connection_invalidated=dialect.is_disconnect(e, None, None)
                                      ) from e
        connection = proxied.dbapi_connection
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
                processors = self._processors.get(engine)
                if processors is None:
                    processors = self._processors[engine] = self._result_processors(
                        dialect, cursor.description)
            connection.autocommit = False
        except engine.dialect.loaded_dbapi.Error as e:
            lost = engine.dialect.is_disconnect(e, connection, None)
            # A connection that may be in any state is not handed out again.
            proxied.invalidate(e)
            raise DBAPIError.instance(sql, params, e, engine.dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=engine.dialect,
                                      connection_invalidated=lost) from e
        finally:
            proxied.close()
        if row is None:
            return None
        if processors:
            row = [value if process is None else process(value)
                   for value, process in zip(row, processors)]
        return self.Row._make(row)

    def _result_processors(self, dialect, description):
        """What SQLAlchemy would convert each column's value with (by its type and the
        driver's type code): an empty tuple when nothing is converted (luffy's tables)."""
        processors = [column.type.dialect_impl(dialect).result_processor(dialect, found[1])
                      for column, found in zip(self.statement.selected_columns, description)]
        return processors if any(processors) else ()


class PreparedHMAC(HMACAlgorithm):
    """PyJWT's HMAC algorithm, which checks each key once instead of on every call.

    ``HMACAlgorithm.prepare_key`` refuses keys that are PEM, SSH, DER or certificate
    bytes, or a JWK in JSON, by trying to load each (about 35 us a call, twice a
    refresh). Its answer depends on the key alone, so the keys it accepted are kept
    (luffy's are its configured secrets: a handful); anything else goes through it
    every time.
    """

    KEEP = 16

    def __init__(self, hash_alg):
        super().__init__(hash_alg)
        self._accepted = {}

    def prepare_key(self, key):
        prepared = self._accepted.get(key) if isinstance(key, (str, bytes)) else None
        if prepared is None:
            prepared = super().prepare_key(key)  # raises for a key it refuses
            if isinstance(key, (str, bytes)) and len(self._accepted) < self.KEEP:
                self._accepted[key] = prepared
        return prepared


def prepare_hmac_keys_once():
    """Register :class:`PreparedHMAC` for HS256/384/512 with PyJWT (its documented
    ``register_algorithm``), for every encode and decode of the process. Idempotent."""
    for name, hash_alg in (("HS256", HMACAlgorithm.SHA256), ("HS384", HMACAlgorithm.SHA384),
                           ("HS512", HMACAlgorithm.SHA512)):
        if isinstance(jwt.get_algorithm_by_name(name), PreparedHMAC):
            continue
        jwt.unregister_algorithm(name)
        jwt.register_algorithm(name, PreparedHMAC(hash_alg))


def autocommit_session():
    """On PostgreSQL, let the request's ORM session run each statement in autocommit
    (no ``BEGIN``, nothing for ``COMMIT`` to send): for a login, whose one read and one
    write (:func:`record_login`) are each atomic alone. Call it before the session's
    first statement; other databases keep their transaction."""
    if db.engine.dialect.driver == "psycopg" and not db.session().in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def record_login(user, token_row, session_row):
    """Write a login: its session's ``session_row``, the refresh token's ``token_row``
    (dicts of their columns) and the ``last_login`` of ``user`` (an entity, given its new
    value here too).

    On PostgreSQL one statement, ``WITH opened AS (INSERT ...), issued AS (INSERT ...)
    UPDATE users ...``, which also inserts the login's pending security-log entry: one
    round trip, atomic on its own. Elsewhere the ORM's statements, at the caller's commit.
    """
    if db.engine.dialect.driver != "psycopg":
        user.last_login = token_row["created_at"]
        db.session.add(Session(**session_row))
        db.session.add(RefreshToken(**token_row))
        return
    # Core tables, not the entities: no ORM bulk-update bookkeeping around the statement.
    users, refresh_tokens = User.__table__, RefreshToken.__table__
    opened = insert(Session.__table__).values(**session_row).cte("opened")
    issued = insert(refresh_tokens).values(**token_row).cte("issued")
    statement = update(users).where(users.c.id == user.id).values(
        last_login=token_row["created_at"]).add_cte(opened).add_cte(issued)
    # The login's security-log entry (luffy.core.events.record), pending in the session,
    # goes in the same statement instead of a round trip of its own.
    pending = [entity for entity in db.session.new if isinstance(entity, Event)]  # in order
    if pending:
        columns = [column.key for column in Event.__table__.columns if column.key != "id"]
        for event in pending:
            db.session.expunge(event)
        rows = [{key: getattr(event, key) for key in columns} for event in pending]
        statement = statement.add_cte(insert(Event.__table__).values(rows).cte("logged"))
    db.session.execute(statement)
    set_committed_value(user, "last_login", token_row["created_at"])  # no write of its own


def matching(columns, values):
    """The conditions ``column IN values`` for each of ``columns``, to be OR-ed: on
    PostgreSQL ``column = ANY(:values)``, one array parameter for them all."""
    if db.session.get_bind().dialect.name == "postgresql":
        array = bindparam(None, list(values), type_=ARRAY(String))
        return or_(*(column == any_(array) for column in columns))
    return or_(*(column.in_(values) for column in columns))


def bulk_insert(table, rows):
    """Insert ``rows`` (dicts with the same keys) in the session's transaction: ``COPY``
    on PostgreSQL, an executemany elsewhere."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        db.session.execute(insert(table), rows)
        return
    from psycopg import sql

    names = list(rows[0])
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, names)))
    with connection.connection.driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])


class _Failed:
    def __init__(self, error):
        self.error = error


def read_ahead(make_iterator, depth=2):
    """Yield what ``make_iterator()`` yields, read by a thread of its own at most ``depth``
    items ahead: the reader's driver work overlaps the consumer's waits on another
    database. The iterator is made, used and closed in that thread only; an error there
    is raised here, and leaving early (an error, Ctrl-C) stops and closes it."""
    items = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item):
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read():
        try:
            with closing(make_iterator()) as iterator:
                for item in iterator:
                    if not put(item):
                        return
            put(done)
        except BaseException as e:  # handed to the consumer
            put(_Failed(e))

    reader = threading.Thread(target=read, name="read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item
    finally:
        stop.set()
        reader.join(timeout=30)
