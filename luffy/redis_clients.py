"""The Redis plumbing: the process's clients of the main Redis and of the carts' Redis.

``REDIS_URL`` (the main Redis) keeps the throttle counters, the one-time codes and the
access-token denylist; ``CART_REDIS_URL`` the carts (``REDIS_URL`` unless set). With
no URL, both are one in-process fakeredis server, so the embedded default runs with
no Redis installed. Tests may hand in clients of their own.
"""

import redis
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry


def redis_from_url(url, timeout):
    """A client that fails fast: short timeouts, one immediate retry (a stale socket)."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=Retry(NoBackoff(), 1),
        health_check_interval=30, decode_responses=True,
    )


class RedisClients:
    """Holds the app's Redis clients in ``app.extensions["luffy_redis"]``."""

    def init_app(self, app, main=None, cart=None):
        """Create (or take) the clients once per app."""
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
