"""Throttling of password guesses, per client address and per account.

The policy (README, "Throttling"), with ``N`` failures a window from ``LOGIN_RATE_LIMIT``:

- an address (an IPv6 one by its /64, :func:`~luffy.extensions.address_key`) that has
  failed ``N`` times in a window is refused, whatever it tries;
- an account has one budget, whichever identifier names it (an unknown identifier
  counts under its normalised form, so that existence does not show). Once it has
  failed ``N`` times, every address that has failed against it in the window is
  refused; an address that has not still gets in with the right password, until the
  account's failures reach ``OWNER_LOCKOUT_FACTOR`` x ``N``, when every address is
  refused for the rest of the window.

The views that take a password are marked with :func:`password_guesses`, which hands
them a :class:`PasswordGuard`. The service asks the guard to :meth:`~PasswordGuard.admit`
an attempt once it knows the account, before it checks the password, and reports a
refused password by raising :class:`~luffy.errors.PasswordRejected`, which the
decorator counts. Counts are fixed windows in the main Redis, shared by every worker
and instance; while that Redis cannot be reached they live in this process's memory.
"""

import hashlib
import logging
import time
from functools import wraps

import redis
from flask import current_app
from limits import parse

from luffy.auth.identifiers import fold
from luffy.errors import APIError, PasswordRejected
from luffy.extensions import address_key, redis_clients

log = logging.getLogger(__name__)

OWNER_LOCKOUT_FACTOR = 20  # account failures (x the limit) past which even the owner waits


def account_key(user=None, identifier=""):
    """The budget a login counts against: the account's id, else the normalised identifier."""
    if user is not None:
        return f"id:{user.id}"
    return "name:" + hashlib.sha256(fold(identifier).encode()).hexdigest()[:32]


class Counters:
    """Failure counts in fixed windows: in Redis, or in process memory while it is down."""

    def __init__(self, limit):
        item = parse(limit)
        self.limit, self.window = item.amount, item.get_expiry()
        self._memory = None

    def _keys(self, account, address, now):
        index = int(now // self.window)
        return (f"luffy:fail:addr:{address}:{index}", f"luffy:fail:acct:{account}:{index}",
                f"luffy:fail:pair:{account}:{address}:{index}")

    def _run(self, work):
        """Run ``work(client)`` on Redis; on a Redis error, on the in-memory fallback."""
        try:
            return work(redis_clients.main)
        except redis.RedisError as e:
            log.warning("throttle counters unavailable, counting in memory: %s", e.__class__.__name__)
            if self._memory is None:
                import fakeredis  # the fallback store, only built once Redis has failed

                self._memory = fakeredis.FakeRedis(server=fakeredis.FakeServer(),
                                                   decode_responses=True)
            return work(self._memory)

    def read(self, account, address, now):
        """``(address failures, account failures, this address's failures on the account)``."""
        keys = self._keys(account, address, now)
        return tuple(int(v or 0) for v in self._run(lambda client: client.mget(keys)))

    def add(self, account, address, now):
        """Count one failure of ``address`` against ``account``."""
        keys = self._keys(account, address, now)

        def count(client):
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.incr(key)
                pipe.expire(key, self.window)
            pipe.execute()

        self._run(count)

    def wait(self, now):
        """Seconds until the current window ends."""
        return max(1, int(self.window - now % self.window))


def counters():
    """The app's :class:`Counters`, built on first use from ``LOGIN_RATE_LIMIT``."""
    extensions = current_app.extensions
    if "luffy_throttle" not in extensions:
        extensions["luffy_throttle"] = Counters(current_app.config["LOGIN_RATE_LIMIT"])
    return extensions["luffy_throttle"]


class PasswordGuard:
    """The throttle's side of one request that may check a password."""

    def __init__(self, address):
        self.address = address  # the client's throttle key (address_key)

    def admit(self, account):
        """Raise 429 ``throttled`` if this address may not try a password on ``account`` now."""
        store, now = counters(), time.time()
        by_address, by_account, by_pair = store.read(account, self.address, now)
        if by_address >= store.limit or by_account >= OWNER_LOCKOUT_FACTOR * store.limit or \
                (by_account >= store.limit and by_pair > 0):
            raise APIError.throttled(store.wait(now))

    def rejected(self, account):
        """Count a refused password of this address against ``account``."""
        counters().add(account, self.address, time.time())


def password_guesses(view):
    """Mark ``view`` as taking passwords: it gets a ``guard`` argument to hand to the
    service, and every :class:`PasswordRejected` it raises is counted."""

    @wraps(view)
    def guarded(*args, **kwargs):
        guard = PasswordGuard(address_key())
        try:
            return view(*args, guard=guard, **kwargs)
        except PasswordRejected as e:
            guard.rejected(e.account)
            raise

    return guarded
