"""Reading the old Django backend's database: only read, never written, and streamed.

The rows of ``lf_users`` (or ``--table``) come in id order, in batches, from a
server-side cursor (SQLAlchemy's ``stream_results`` and ``yield_per``), so memory does
not grow with the number of accounts. On MySQL/MariaDB and SQLite the text columns are
read as bytes and decoded here, so that one row of bad UTF-8 is reported instead of
ending the run inside the driver.
"""

import os
from datetime import datetime, timezone

from sqlalchemy import LargeBinary, cast, column, create_engine, func, inspect, select, table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import NullPool

# The columns of the seed's users.User that luffy takes (AbstractUser's and its own).
COLUMNS = ("id", "username", "password", "email", "mobile", "is_active", "date_joined",
           "last_login", "nickname", "money", "credit", "avatar")
TEXT = ("username", "password", "email", "mobile", "nickname", "avatar")
BLACKLIST = "token_blacklist_blacklistedtoken"
OUTSTANDING = "token_blacklist_outstandingtoken"
CONNECT_TIMEOUT = 10


class SourceError(Exception):
    """The old database cannot be read: the import cannot run (exit 2)."""


def driver_url(url):
    """``url`` with luffy's drivers (psycopg 3, PyMySQL), as config.py does for its own."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    for prefix, driver in (("postgresql://", "postgresql+psycopg://"), ("mysql://", "mysql+pymysql://"),
                           ("mariadb://", "mysql+pymysql://")):
        if url.startswith(prefix):
            return driver + url[len(prefix):]
    return url


def shown(url):
    """``url`` without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the source URL"


def describe(error):
    """A one-line message of a database error, without the statement or parameters."""
    orig = getattr(error, "orig", None) or error
    return f"{orig.__class__.__name__}: {str(orig).splitlines()[0] if str(orig) else ''}".rstrip(": ")


class Source:
    """The old database at ``url``, its accounts table ``name``."""

    def __init__(self, url, name="lf_users"):
        self.url = driver_url(url)
        self.name = name
        try:
            parsed = make_url(self.url)
            backend = parsed.get_backend_name()
            if backend == "sqlite":
                self.url = _read_only_sqlite(parsed)
            args = {"connect_timeout": CONNECT_TIMEOUT} if backend in ("postgresql", "mysql") else {}
            if backend == "mysql":
                # The server gives up on a streamed result that is read slower than
                # net_write_timeout (60 s): luffy's writes set the pace here.
                args.update(charset="utf8mb4", init_command="SET SESSION net_write_timeout = 3600")
            self.engine = create_engine(self.url, poolclass=NullPool, connect_args=args)
        except (ArgumentError, NoSuchModuleError, ValueError) as e:
            raise SourceError(f"not a database URL this import reads: {shown(url)} ({e})") from None
        # Text read as bytes where the database may hold bytes that are not UTF-8.
        self.binary = backend in ("mysql", "sqlite")
        self.backend = backend
        self.table = table(name, *(column(c) for c in COLUMNS))

    def check(self):
        """Refuse (SourceError) a source that cannot be reached or lacks the table or a
        column; answer whether simplejwt's blacklist tables are there."""
        try:
            with self.engine.connect() as conn:
                inspector = inspect(conn)
                if not inspector.has_table(self.name):
                    raise SourceError(f"no table {self.name!r} in {shown(self.url)}")
                present = {c["name"] for c in inspector.get_columns(self.name)}
                missing = [c for c in COLUMNS if c not in present]
                if missing:
                    raise SourceError(f"table {self.name!r} lacks the column(s) {', '.join(missing)}")
                return inspector.has_table(BLACKLIST) and inspector.has_table(OUTSTANDING)
        except SQLAlchemyError as e:
            raise SourceError(f"cannot read {shown(self.url)}: {describe(e)}") from None

    def count(self):
        """How many accounts there are (for the progress bar)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(self.table)).scalar()

    def max_id(self):
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(self.table.c.id))).scalar() or 0

    def batches(self, size):
        """Lists of rows (tuples in the order of :data:`COLUMNS`), in id order."""
        t = self.table
        columns = [cast(t.c[c], LargeBinary).label(c) if self.binary and c in TEXT else t.c[c]
                   for c in COLUMNS]
        query = select(*columns).order_by(t.c.id)
        with self.engine.connect() as conn, \
                conn.execution_options(stream_results=True, yield_per=size).execute(query) as result:
            yield from result.partitions(size)

    def blacklisted(self, size):
        """Batches of ``(jti, expires_at)`` of the refresh tokens the old backend
        blacklisted and that have not expired yet."""
        b = table(BLACKLIST, column("token_id"))
        o = table(OUTSTANDING, column("id"), column("jti"), column("expires_at"))
        query = (select(o.c.jti, o.c.expires_at).select_from(b.join(o, b.c.token_id == o.c.id))
                 .order_by(o.c.id))
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with self.engine.connect() as conn, \
                conn.execution_options(stream_results=True, yield_per=size).execute(query) as result:
            for part in result.partitions(size):
                rows = [(jti, naive_utc(expires)) for jti, expires in part]
                yield [(jti, expires) for jti, expires in rows if expires is None or expires > now]


def naive_utc(value):
    """A source timestamp as luffy stores them: naive UTC. Django writes aware values as
    UTC (PostgreSQL hands them back aware), naive ones on MySQL/SQLite, and SQLite as text."""
    if value is None or value == b"" or value == "":
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii")
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _read_only_sqlite(url):
    """A SQLite file opened read-only: never created, never written."""
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise SourceError(f"not a SQLite file: {shown(str(url))}")
    if not os.path.isfile(path):
        raise SourceError(f"cannot read {shown(str(url))}: no such file")
    return url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
