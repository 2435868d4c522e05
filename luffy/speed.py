"""The speed tricks of luffy, in one place; bench/PROFILE.md has what each one saves.

- **Single reads outside the ORM session** (:func:`read_row`): on PostgreSQL in
  autocommit, with no ``BEGIN``/``ROLLBACK`` round trips.
- **Pooled PostgreSQL connections are checked by polling their socket**, not by a
  ``SELECT 1`` per checkout (:func:`replace_connections_the_server_closed`, registered
  on the app's engine by ``luffy.database``).
- **Libraries few requests need are imported on first use**, at the one place that
  uses them: zxcvbn (``core/strength.py``, 12 MB), requests (``core/senders.py``),
  Flask-Migrate (``flask db`` only, ``luffy/__init__.py``).
- **The import from the old backend** (``luffy/legacy/importer.py``) writes new rows with
  ``COPY`` on PostgreSQL (:func:`bulk_insert`) and looks a batch's values up with one
  array parameter (:func:`matching`): psycopg parses a statement of thousands of
  placeholders slower than the server runs it. A thread reads the old database's next
  batch while luffy's database writes this one (:func:`read_ahead`).
- **argon2id checks reuse one heap block**: a process setting, so it lives in the
  server's configuration (``gunicorn.conf.py``, or ``GLIBC_TUNABLES``: README).
"""

import queue
import select
import threading
from contextlib import closing

from sqlalchemy import String, any_, bindparam, insert, or_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DisconnectionError

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
