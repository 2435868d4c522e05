"""The speed tricks of luffy, in one place; bench/PROFILE.md has what each one saves.

- **Autocommit reads** (:func:`autocommit`): a view marked with it runs its queries in
  autocommit on PostgreSQL, with no ``BEGIN``/``ROLLBACK`` round trips.
- **Pooled PostgreSQL connections are checked by polling their socket**, not by a
  ``SELECT 1`` per checkout (:func:`_replace_connections_the_server_closed`).
- **Flask-Limiter checks only views that declare a limit** (:func:`rate_limited`).
- **argon2id checks reuse one heap block** (:func:`reuse_hash_memory`).

:func:`init_app` applies what must be applied once per process.
"""

import ctypes
import ctypes.util
import select
from functools import wraps

from flask import current_app, request
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from luffy.extensions import db, limiter

AUTOCOMMIT = "luffy_autocommit"
RATE_LIMITED = "luffy_rate_limited"


def autocommit(view=None, *, unless=None):
    """Run the marked view's queries in autocommit on PostgreSQL (unless the config key
    ``unless`` is true): for views that read, or write one statement at a time.

    Lazily: a request that runs no query (verify of an access token) takes no
    connection. PostgreSQL only: there autocommit is a client-side switch, while PyMySQL
    would spend a ``SET autocommit`` round trip each way.
    """
    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not (unless and current_app.config[unless]):
                db.session.info[AUTOCOMMIT] = True
            return view(*args, **kwargs)

        return wrapped

    return decorate(view) if view is not None else decorate


@event.listens_for(Session, "do_orm_execute")
def _begin_in_autocommit(state):
    """Before a marked request's first query, take its connection in autocommit."""
    session = state.session
    if session.info.get(AUTOCOMMIT) and not session.in_transaction() and \
            session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


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
    """``limiter.limit(*args, **kwargs)``, marking the view so that the limiter checks it."""
    limit = limiter.limit(*args, **kwargs)

    def decorate(view):
        limited = limit(view)
        setattr(limited, RATE_LIMITED, True)
        return limited

    return decorate


@limiter.request_filter
def _no_declared_limit():
    """Spare the limiter's per-request work on views that declare no limit."""
    view = current_app.view_functions.get(request.endpoint)
    return not getattr(view, RATE_LIMITED, False)


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
    """Apply the per-process tricks; after the password hasher is built (its start-up
    hash's block goes back, so a worker that never sees a login keeps none)."""
    reuse_hash_memory()
