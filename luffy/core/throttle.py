"""The one throttle of luffy: windows of the ``limits`` package, in the main Redis.

Every limit a client can run into is counted here, in ``limits``' windows keyed by a
client address (:func:`address_key`: an IPv6 address by its /64), an account or a
code's destination, all in the main Redis so that every worker and instance shares
them. One policy when that Redis cannot be reached: the counts live in this process's
memory (a warning is logged), and Redis is used again as soon as it answers.

Three uses (README, "Throttling" and "Accounts"):

- **Password guesses** (fixed windows of ``LOGIN_RATE_LIMIT``, ``N`` failures): an
  address that failed ``N`` times is refused whatever it tries; an account has one
  budget, whichever identifier names it (an unknown identifier counts under its
  normalised form, so existence does not show); past it, only the addresses that
  failed against it are refused, until its failures reach ``OWNER_LOCKOUT_FACTOR`` x
  ``N``, when every address waits for the rest of the window. Views that take a
  password are marked :func:`password_guesses` and hand their service a
  :class:`PasswordGuard`; the service :meth:`~PasswordGuard.admit`\\ s an attempt before
  it checks the password and raises :class:`~luffy.errors.PasswordRejected` when the
  password is wrong, which the decorator counts, once.
- **Code sends** (:func:`reserve_send`, rolling windows): one per destination per
  ``CODE_RESEND_INTERVAL``; in 24 hours ``CODE_DAILY_LIMIT`` per client address and
  ``CODE_DESTINATION_DAILY_LIMIT`` per destination from every address together.
- **Views with a plain limit per address** (:func:`rate_limited`): the mobile lookup.

A refused request counts nowhere. Every refusal is 429 ``throttled`` with
``Retry-After``: the seconds until the limit allows the request again.
"""

import hashlib
import ipaddress
import logging
import time
from functools import wraps

from flask import current_app, request
from limits import RateLimitItemPerDay, RateLimitItemPerSecond, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from luffy.core.identifiers import fold
from luffy.errors import APIError, PasswordRejected

log = logging.getLogger(__name__)

OWNER_LOCKOUT_FACTOR = 20  # account failures (x the limit) past which even the owner waits
IPV6_CLIENT_PREFIX = 64  # one IPv6 client (a home, a host) gets a /64: endless addresses


def client_address():
    """The client's address as ProxyFix left it (the trusted proxies already peeled off)."""
    return request.remote_addr or "unknown"


def address_key(address=None):
    """The key every per-address limit counts ``address`` (default: this request's
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


def account_key(user=None, identifier=""):
    """The budget a password guess counts against: the account's id, else the
    normalised identifier."""
    if user is not None:
        return f"id:{user.id}"
    return "name:" + hashlib.sha256(fold(identifier).encode()).hexdigest()[:32]


class Windows:
    """``limits``' fixed and moving windows over the main Redis, or over this process's
    memory while that Redis cannot be reached."""

    def __init__(self, redis_client):
        shared = RedisStorage("redis://", connection_pool=redis_client.connection_pool,
                              key_prefix="luffy", wrap_exceptions=True)
        memory = MemoryStorage()
        self._shared = (FixedWindowRateLimiter(shared), MovingWindowRateLimiter(shared))
        self._memory = (FixedWindowRateLimiter(memory), MovingWindowRateLimiter(memory))

    def run(self, work):
        """``work(fixed, moving)`` on the shared windows; on the memory ones if Redis fails."""
        try:
            return work(*self._shared)
        except StorageError as e:
            log.warning("throttle counters unavailable, counting in memory: %s",
                        e.storage_error.__class__.__name__)
            return work(*self._memory)


def windows():
    """The app's :class:`Windows`."""
    return current_app.extensions["luffy_throttle"]


def init_app(app):
    """Give ``app`` its :class:`Windows` on the main Redis (``luffy.redis_clients``)."""
    app.extensions["luffy_throttle"] = Windows(app.extensions["luffy_redis"]["main"])


def _wait(stats):
    return max(1, int(stats.reset_time - time.time() + 0.999))


# Password guesses.

class PasswordGuard:
    """The throttle's side of one request that may check a password."""

    def __init__(self, address):
        self.address = address  # the client's key (address_key)

    @staticmethod
    def _items():
        limit = parse(current_app.config["LOGIN_RATE_LIMIT"])
        cap = type(limit)(OWNER_LOCKOUT_FACTOR * limit.amount, limit.multiples)
        return limit, cap, type(limit)(1, limit.multiples)  # by address, by account, by pair

    def admit(self, account):
        """Raise 429 ``throttled`` if this address may not try a password on ``account`` now."""
        by_address, by_account, by_pair = self._items()

        def refusal(fixed, _moving):
            if not fixed.test(by_address, "fail-addr", self.address):
                return fixed.get_window_stats(by_address, "fail-addr", self.address)
            stats = fixed.get_window_stats(by_account, "fail-acct", account)
            failures = by_account.amount - stats.remaining
            if failures >= by_account.amount or (
                    failures >= by_address.amount
                    and not fixed.test(by_pair, "fail-pair", account, self.address)):
                return stats
            return None

        stats = windows().run(refusal)
        if stats is not None:
            raise APIError.throttled(_wait(stats))

    def rejected(self, account):
        """Count a refused password of this address against ``account``."""
        by_address, by_account, by_pair = self._items()

        def count(fixed, _moving):
            fixed.hit(by_address, "fail-addr", self.address)
            fixed.hit(by_account, "fail-acct", account)
            fixed.hit(by_pair, "fail-pair", account, self.address)

        windows().run(count)


def password_guesses(view):
    """Mark ``view`` as taking passwords: it gets a ``guard`` argument to hand to the
    service, and every :class:`PasswordRejected` it raises is counted, once (a view
    that also takes HTTP Basic has the guard of ``login_required`` count its guesses)."""

    @wraps(view)
    def guarded(*args, **kwargs):
        guard = PasswordGuard(address_key())
        try:
            return view(*args, guard=guard, **kwargs)
        except PasswordRejected as e:
            if not e.counted:
                guard.rejected(e.account)
                e.counted = True
            raise

    guarded.luffy_throttled = True  # luffy.openapi documents the 429
    return guarded


# Code sends.

def reserve_send(destination, address):
    """Count one send to ``destination`` (an opaque key) from ``address``, or raise 429
    with the wait until every limit allows it. A refused send counts nowhere."""
    config = current_app.config
    client = address_key(address)
    limits = [(RateLimitItemPerDay(config["CODE_DESTINATION_DAILY_LIMIT"]), "sends-dest", destination),
              (RateLimitItemPerDay(config["CODE_DAILY_LIMIT"]), "sends-addr", client)]
    if config["CODE_RESEND_INTERVAL"] > 0:
        limits.append((RateLimitItemPerSecond(1, config["CODE_RESEND_INTERVAL"]), "resend", destination))

    def reserve(_fixed, moving):
        refused = [moving.get_window_stats(*limit) for limit in limits if not moving.test(*limit)]
        if refused:
            return max(_wait(stats) for stats in refused)
        # Each hit is atomic; of requests that raced past the tests, a late one is refused.
        for limit in limits:
            if not moving.hit(*limit):
                return _wait(moving.get_window_stats(*limit))
        return None

    wait = windows().run(reserve)
    if wait is not None:
        raise APIError.throttled(wait)


def clear_sends(destination, address=None):
    """Forget the send limits of ``destination`` (and of ``address``)."""
    config = current_app.config
    limits = [(RateLimitItemPerDay(config["CODE_DESTINATION_DAILY_LIMIT"]), "sends-dest", destination)]
    if config["CODE_RESEND_INTERVAL"] > 0:
        limits.append((RateLimitItemPerSecond(1, config["CODE_RESEND_INTERVAL"]), "resend", destination))
    if address is not None:
        limits.append((RateLimitItemPerDay(config["CODE_DAILY_LIMIT"]), "sends-addr", address_key(address)))
    windows().run(lambda _fixed, moving: [moving.clear(*limit) for limit in limits])


def sends_today(destination):
    """How many codes went to ``destination`` in the last 24 hours, and the seconds until
    it may have the next one."""
    config = current_app.config
    ceiling = RateLimitItemPerDay(config["CODE_DESTINATION_DAILY_LIMIT"])
    resend = RateLimitItemPerSecond(1, max(1, config["CODE_RESEND_INTERVAL"]))

    def read(_fixed, moving):
        sent = ceiling.amount - moving.get_window_stats(ceiling, "sends-dest", destination).remaining
        waiting = config["CODE_RESEND_INTERVAL"] > 0 and not moving.test(resend, "resend", destination)
        wait = _wait(moving.get_window_stats(resend, "resend", destination)) if waiting else 0
        return sent, wait

    return windows().run(read)


# Views with a plain limit.

def rate_limited(setting):
    """Limit ``view`` to the config ``setting`` (``limits`` notation: "30 per minute")
    per client address."""

    def decorate(view):
        @wraps(view)
        def limited(*args, **kwargs):
            item, client = parse(current_app.config[setting]), address_key()

            def hit(fixed, _moving):
                return None if fixed.hit(item, view.__name__, client) else \
                    fixed.get_window_stats(item, view.__name__, client)

            stats = windows().run(hit)
            if stats is not None:
                raise APIError.throttled(_wait(stats))
            return view(*args, **kwargs)

        limited.luffy_throttled = True  # luffy.openapi documents the 429
        return limited

    return decorate
