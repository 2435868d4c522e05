"""gunicorn settings of luffy, read by ``gunicorn wsgi:app`` from the working directory.

Every value can be changed by an environment variable, and command-line options
(``-b``, ``-w``, ...) still override this file:

| variable | default | meaning |
|---|---|---|
| ``GUNICORN_BIND`` | ``0.0.0.0:$PORT`` if ``PORT`` is set, else ``127.0.0.1:8000`` | listen address(es), comma-separated |
| ``PORT`` | — | port on all interfaces (the platform convention) |
| ``WEB_CONCURRENCY`` | CPU count * 2 + 1 | worker processes |
| ``GUNICORN_THREADS`` | 4 | threads per worker (gthread) |
| ``GUNICORN_TIMEOUT`` | 30 | seconds a silent worker lives before it is killed and replaced |
| ``GUNICORN_GRACEFUL_TIMEOUT`` | 30 | seconds workers get to finish requests on a stop or reload |
| ``GUNICORN_KEEPALIVE`` | 5 | seconds an idle keep-alive connection stays open |
| ``GUNICORN_LOG_LEVEL`` | info | gunicorn's error-log level |

``kill -HUP <master pid>`` reloads gracefully: new workers start with the new code and
settings while the old ones finish their requests (the app is not preloaded, so
each worker imports it afresh).
"""

import ctypes
import ctypes.util
import multiprocessing
import os


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value else default


def _bind():
    if os.environ.get("GUNICORN_BIND"):
        return [address.strip() for address in os.environ["GUNICORN_BIND"].split(",") if address.strip()]
    if os.environ.get("PORT"):
        return [f"0.0.0.0:{os.environ['PORT']}"]
    return ["127.0.0.1:8000"]


wsgi_app = "wsgi:app"
bind = _bind()
workers = _int("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
preload_app = False  # a HUP reload then picks up new code
# Recent gunicorn opens a control socket at one fixed path per user, which several
# instances on one host would fight over; signals do the same job.
control_socket_disable = True

# Logs go to stdout/stderr, where the process supervisor collects them. Each access
# line carries the request id that the app echoes in X-Request-ID.
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = (
    '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s '
    'agent="%(a)s"'
)


def _glibc():
    """The C library when it is glibc, else None."""
    libc_name = ctypes.util.find_library("c")
    return ctypes.CDLL(libc_name) if libc_name and "libc.so" in libc_name else None


def post_fork(_server, _worker):
    """Tune glibc's allocator in each new worker, before it loads the app: every argon2id
    check (19 MiB, ``PASSWORD_HASH_MEMORY_COST``) then reuses one heap block.

    By default glibc serves blocks that large with a fresh mmap, whose pages the kernel
    faults in and zeroes on every check (50% slower here), then raises its threshold so
    that each thread's arena keeps a freed block (a gthread worker held one per thread:
    173 MB). One arena, a fixed mmap threshold (glibc's maximum, 32 MiB) and a high trim
    threshold keep the blocks in one heap, where a freed block serves the next check on
    any thread: a worker holds as many blocks as it has run checks at once. The same,
    for another server: ``GLIBC_TUNABLES=glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864``
    in its environment (README, "How luffy uses memory"). glibc only; elsewhere a no-op.
    """
    libc = _glibc()
    if libc is not None:
        m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
        libc.mallopt(m_arena_max, 1)
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
        libc.mallopt(m_trim_threshold, 64 * 1024 * 1024)


def post_worker_init(worker):
    """Once a worker has loaded the app, its access and error lines mask what luffy's
    own lines mask: the mobile number of ``/users/mobile/<m>`` and ``/users/sms/<m>``
    (luffy.logs.redact). Imported here, in the worker, never at the top of this file:
    the master then holds no luffy code, so the workers of a HUP reload import it anew."""
    from luffy.logs import Redacted

    for logger in (worker.log.access_log, worker.log.error_log):
        logger.addFilter(Redacted())
    # The app's start-up argon2id hash (the timing equaliser's) freed its 19 MiB block,
    # which the trim threshold above keeps: a worker that has served no login gives it
    # back (a fresh worker 100 -> 80 MB; bench/PROFILE.md). The first check takes one again.
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)

# Refuse oversized request lines and headers before the app sees them (gunicorn's
# defaults, stated here so that the limits are visible next to MAX_CONTENT_LENGTH).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
