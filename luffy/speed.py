"""The speed tricks of luffy, in one place; bench/PROFILE.md has what each one saves.

- **Single reads outside the ORM session** (:func:`read_row`): on PostgreSQL in
  autocommit, with no ``BEGIN``/``ROLLBACK`` round trips.
- **Pooled PostgreSQL connections are checked by polling their socket**, not by a
  ``SELECT 1`` per checkout (:func:`_replace_connections_the_server_closed`).
- **Flask-Limiter runs only in the views that declare a limit** (:func:`rate_limited`,
  :func:`_limit_declared_views_only`): no limiter hook on any other request.
- **argon2id checks reuse one heap block** (:func:`reuse_hash_memory`).
- **Libraries few requests need are imported on first use**, at the one place that
  uses them: zxcvbn (``accounts/strength.py``, 12 MB), requests
  (``accounts/senders.py``), Flask-Migrate (``flask db`` only, ``luffy/__init__.py``).

:func:`init_app` applies what must be applied once per process.
"""

import ctypes
import ctypes.util
import select
from functools import partial

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import Pool

from luffy.extensions import db, limiter


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


@event.listens_for(Pool, "checkout")
def _replace_connections_the_server_closed(dbapi_connection, _record, _proxy):
    """SQLAlchemy's pessimistic disconnect check, for PostgreSQL without a round trip.

    An idle PostgreSQL connection receives nothing unless the server ends it (a restart,
    a terminated backend): then its socket is readable, with the notice or the EOF.
    ``DisconnectionError`` makes the pool replace the connection, so the first request
    after a database restart succeeds. Other drivers (no ``fileno``) keep
    ``pool_pre_ping`` (``config.py``), which costs a ``SELECT 1`` per checkout.
    """
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:
        return
    try:
        poll = select.poll()
        poll.register(fileno(), select.POLLIN)
        closed = bool(poll.poll(0))
    except Exception as e:  # a connection closed on our side has no socket left
        raise DisconnectionError(str(e)) from e
    if closed:
        raise DisconnectionError("the server closed the connection")


def rate_limited(*args, **kwargs):
    """``limiter.limit(*args, **kwargs)``: the only way luffy limits a view.

    Flask-Limiter's decorator checks the limit itself, inside the view's wrapper; the
    app-wide hooks that :func:`_limit_declared_views_only` removes are not needed for it.
    """
    return limiter.limit(*args, **kwargs)


# Settings that would need Flask-Limiter's app-wide hooks: limits on every view, and the
# X-RateLimit headers (luffy sets Retry-After on a 429 itself, luffy/errors.py).
APP_WIDE_LIMIT_SETTINGS = ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META",
                           "RATELIMIT_HEADERS_ENABLED")


def _limit_declared_views_only(app):
    """Take Flask-Limiter's ``before_request``, ``after_request`` and ``teardown_request``
    hooks off ``app``: they ran on every request (a quarter of ``/healthz``'s Python
    calls, bench/PROFILE.md), though luffy declares no default or application limit.

    What they did is done elsewhere or not needed: a decorated view checks its limit in
    its own wrapper (``in_middleware=False``); the headers hook only adds the X-RateLimit
    headers, which are off; the teardown resets the request's limiter context, which
    lives on the request context and ends with it. Flask-Limiter 3's ``auto_check=False``
    did this; version 4 has no such switch. A setting that needs the hooks refuses to
    start instead of being silently ignored.
    """
    needing_hooks = [key for key in APP_WIDE_LIMIT_SETTINGS if app.config.get(key)]
    if needing_hooks:
        raise RuntimeError(f"luffy limits declared views only; unset {', '.join(needing_hooks)}")

    def limiters(hook):
        return getattr(hook, "__self__", None) is limiter or \
            (isinstance(hook, partial) and limiter in hook.args)

    for hooks in (app.before_request_funcs, app.after_request_funcs,
                  app.teardown_request_funcs):
        if None in hooks:
            hooks[None] = [hook for hook in hooks[None] if not limiters(hook)]


def reuse_hash_memory():
    """Let every argon2 check reuse one heap block instead of faulting in fresh pages.

    Each check allocates ``memory_cost`` KiB (19 MiB). By default glibc serves blocks
    that large with a fresh mmap, whose pages the kernel must fault in and zero on every
    check (50% slower here), and then raises its threshold so that each thread's arena
    keeps a freed block (a gthread worker held one per thread: 173 MB). One arena, a
    fixed mmap threshold and a high trim threshold keep the blocks in one heap, where a
    freed block serves the next check on any thread: a worker holds as many blocks as
    it has run checks at once. glibc only; other C libraries keep their defaults.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name and "libc.so" in libc_name:
        libc = ctypes.CDLL(libc_name)
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
        libc.mallopt(M_ARENA_MAX, 1)
        libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024)  # glibc's maximum
        libc.mallopt(M_TRIM_THRESHOLD, 64 * 1024 * 1024)


def init_app(app):
    """Apply the tricks: after the password hasher is built (its start-up hash's block
    goes back, so a worker that never sees a login keeps none) and after Flask-Limiter."""
    reuse_hash_memory()
    _limit_declared_views_only(app)
