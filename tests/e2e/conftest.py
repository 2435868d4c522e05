"""Fixtures of the browser tests: a gunicorn server, Debian's chromium, two static sites,
and the outboxes: an SMS gateway stand-in (the webhook backend) and an SMTP server.

The server runs the production configuration, with its Celery worker on the tests'
broker (``tests/servers.py``), and a 3-second access token, so that
the page's automatic refresh is exercised by every test, and a short resend interval
(``RESEND_INTERVAL``), so that the "send code" countdown can be seen to end. Without chromium (or the
Redis that holds the carts) the tests are skipped, unless ``LUFFY_E2E=1`` demands
them: then a missing piece is a failure.
"""

import functools
import os
import re
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis

from tests.e2e.accounts import ACCESS_LIFETIME, ALICE, CART_ITEMS, RESEND_INTERVAL, SERIALS
from tests.servers import BROKER_URL, Server, Worker, drop_queue, flask, queue_name, reachable, server_env
from tests.standins import MailServer, SmsProvider

E2E_REQUIRED = os.environ.get("LUFFY_E2E", "") not in ("", "0")
REDIS_URL = os.environ.get("LUFFY_E2E_REDIS_URL", "redis://127.0.0.1:6379/14")
SCREENSHOTS = Path(__file__).parent / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def missing(reason):
    """Skip for want of ``reason``; fail instead when ``LUFFY_E2E`` asks for these tests."""
    if E2E_REQUIRED:
        pytest.fail(f"LUFFY_E2E is set but {reason}", pytrace=False)
    pytest.skip(f"{reason} (set LUFFY_E2E=1 to make this a failure)")


@pytest.fixture(scope="session")
def chromium_path():
    """Debian's chromium; Playwright's own browser builds are not used."""
    path = shutil.which("chromium")
    if not path:
        missing("chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def cart_redis():
    """The Redis database of the carts and throttle counters (flushed, and only that one)."""
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        client.close()
        missing(f"Redis at {REDIS_URL} cannot be reached ({e.__class__.__name__})")
    client.flushdb()
    yield client
    client.close()


class StaticSite:
    """An HTTP server on a free loopback port serving one empty page, in a thread."""

    def __init__(self, directory):
        handler = functools.partial(QuietHandler, directory=str(directory))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


class QuietHandler(SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr."""

    def log_message(self, *args):
        """Keep the test output clean."""


@pytest.fixture(scope="session")
def static_sites(tmp_path_factory):
    """Two other origins: ``allowed`` is in the server's CORS_ORIGINS, ``other`` is not."""
    directory = tmp_path_factory.mktemp("site")
    (directory / "index.html").write_text(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Another site</title>"
        "<h1>Another site</h1></html>")
    sites = {"allowed": StaticSite(directory), "other": StaticSite(directory)}
    yield sites
    for site in sites.values():
        site.stop()


@pytest.fixture(scope="session")
def outbox():
    """``(sms, mail)``: where the server's messages land, to read their codes from."""
    sms, mail = SmsProvider(), MailServer()
    yield sms, mail
    sms.close()
    mail.close()


@pytest.fixture(scope="session")
def luffy_server(tmp_path_factory, cart_redis, static_sites, outbox):
    """``gunicorn wsgi:app`` in production configuration, with alice (``.alice_id``)."""
    why = reachable(BROKER_URL)
    if why:
        missing(why)
    database = tmp_path_factory.mktemp("db") / "e2e.db"
    sms, mail = outbox
    env = server_env(
        f"sqlite:///{database}", REDIS_URL,
        CONFIG="production",
        JWT_COOKIE_SECURE=False,
        JWT_ACCESS_TOKEN_EXPIRES=ACCESS_LIFETIME,
        CORS_ORIGINS=[static_sites["allowed"].origin],
        # Messages go through the broker and the worker to the stand-ins.
        CELERY_QUEUE=queue_name(), SMS_BACKEND="webhook", SMS_WEBHOOK_URL=sms.url + "/webhook",
        MAIL_SERVER="127.0.0.1", MAIL_PORT=mail.port, MAIL_DEFAULT_SENDER="luffy <no-reply@luffy.test>",
        CODE_RESEND_INTERVAL=RESEND_INTERVAL,
        CODE_DAILY_LIMIT=1000,  # every test sends from 127.0.0.1
    )
    env["CART_REDIS_URL"] = REDIS_URL
    flask(env, "db", "upgrade")
    created = flask(env, "users", "create", ALICE["username"], "--email", ALICE["email"],
                    "--mobile", ALICE["mobile"], "--password", ALICE["password"],
                    "--nickname", ALICE["nickname"], "--money", ALICE["money"],
                    "--credit", ALICE["credit"])
    alice_id = int(re.search(r"created user (\d+)", created.stdout).group(1))
    worker_log = tmp_path_factory.mktemp("worker") / "worker.log"
    with Server(env, workers=1) as server, Worker(env, worker_log):
        server.alice_id = alice_id
        server.env = env
        yield server
    drop_queue(BROKER_URL, env["LUFFY_CELERY_QUEUE"])


@pytest.fixture
def make_account(luffy_server):
    """``make_account(**fields)`` creates an account of its own for a test (a fresh mobile,
    username and email each time) and returns its fields, password included."""
    def make(password="a fresh password 7", **fields):
        n = next(SERIALS)
        account = {"username": f"user{n}", "mobile": f"1390000{n:04d}",
                   "email": f"user{n}@example.com", "password": password, **fields}
        flask(luffy_server.env, "users", "create", account["username"], "--email", account["email"],
              "--mobile", account["mobile"], "--password", password)
        return account
    return make



@pytest.fixture
def alice_cart(luffy_server, cart_redis):
    """Alice's cart holds CART_ITEMS courses (written anew for each test, in case another
    run of these tests on the same machine flushed the database meanwhile)."""
    key = f"cart_{luffy_server.alice_id}"
    cart_redis.delete(key)
    cart_redis.hset(key, mapping={f"course:{n}": "1" for n in range(CART_ITEMS)})
    return key


@pytest.fixture(scope="session")
def browser(chromium_path):
    """Headless chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    """A fresh browser profile (no cookies) per test."""
    context = browser.new_context(viewport={"width": 960, "height": 720}, locale="en-US")
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context, luffy_server, alice_cart):
    """A tab; any CSP violation it reports fails the test."""
    page = context.new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)
    yield page
    assert not violations, violations


@pytest.fixture
def screenshot(page, request):
    """``screenshot()`` saves the page as ``screenshots/<test name>.png``."""
    SCREENSHOTS.mkdir(exist_ok=True)

    def take(suffix=""):
        name = re.sub(r"[^\w.-]+", "_", request.node.name) + suffix
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take
