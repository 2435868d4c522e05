"""Outages under a steady load: Redis killed, Redis frozen, PostgreSQL restarted.

gunicorn (two gthread workers) runs on a throwaway PostgreSQL and a throwaway Redis
(``tests/throwaway.py``; never the machine's shared servers). A few client threads
keep a mixed load of about 100 requests a second running for the whole test: logins,
``me``, verify, refresh, logouts, refreshes and verifies of logged-out tokens, and
wrong passwords. Meanwhile the test kills Redis and starts it again, freezes it
(SIGSTOP, then SIGCONT), and restarts PostgreSQL. Every answer is recorded, and then:

- each is JSON of the contract's one error shape or the endpoint's success body: never
  a 500, never HTML, never a dropped connection;
- each status is one its request may get; a 503 only while the database is out, and a
  login's ``"cart_total": null`` only while Redis is;
- after each outage the service answers again within seconds, and the load's answers
  after the last one are all successes again;
- the server logs the logins that met an outage as ``unavailable``, and as ``failure``
  exactly the refused passwords;
- nothing written before an outage is lost: a session logged in before it still
  refreshes, a logout done before it still holds.
"""

import http.client
import itertools
import json
import random
import re
import threading
import time
from dataclasses import dataclass

import pytest

from tests import throwaway
from tests.servers import Server, flask, server_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.load,
    pytest.mark.timeout(240),
    pytest.mark.skipif(throwaway.available() is not None, reason=str(throwaway.available())),
]

PASSWORD = "a password for the load"
ACCOUNTS = ("load-a", "load-b")
PROBE = "probe"  # the test's own account, for the checks around each outage
TARGET = "target"  # the account the load guesses passwords of (its own would be locked)
THREADS = 8
RATE = 12  # requests a second per client thread (many threads: requests pile up in an outage)
OUTAGE = 4  # seconds each outage lasts
STEADY = 3  # seconds of calm between outages
RECOVERY = 10  # seconds the service may take to answer normally again
SLACK = 1.0  # seconds around an outage window in which its answers may still come

# The statuses each step of the load may get (a 503 only inside a database outage).
ALLOWED = {
    "login": {200, 503},
    "me": {200, 503},
    "verify": {200},  # an access token: only the Redis denylist, which fails open
    "refresh": {200, 503},
    "logout": {200, 503},
    "refresh-dead": {401, 429, 503},  # the refresh token just logged out
    "verify-dead": {200, 401},  # 200 when the denylist could not be written or read
    "login-wrong": {401, 429, 503},
}
ERROR_CODES = {401: {"authentication_failed", "token_not_valid"}, 429: {"throttled"},
               503: {"service_unavailable"}}


@dataclass
class Answer:
    """One request of the load and what came back."""

    step: str
    sent: float
    received: float
    status: int | None  # None: no HTTP answer at all
    content_type: str
    raw: bytes
    retry_after: str | None = None

    @property
    def body(self):
        """The parsed JSON body, or None when it is not JSON."""
        try:
            return json.loads(self.raw)
        except ValueError:
            return None

    def during(self, windows):
        """Whether this request overlapped one of the ``(start, end)`` windows."""
        return any(self.sent <= end + SLACK and self.received >= start - SLACK
                   for start, end in windows)

    def __str__(self):
        return f"{self.step} -> {self.status} {self.content_type} {self.raw[:160]!r}"


class Client:
    """HTTP to the server, one connection a request; every answer is recorded."""

    def __init__(self, port):
        self.port = port
        self.answers = []
        self.lock = threading.Lock()

    def call(self, step, method, path, body=None, headers=None, address=None):
        """Send one request; returns its :class:`Answer` (also recorded)."""
        headers = dict(headers or {})
        headers["X-Forwarded-For"] = address or random_address()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        sent = time.monotonic()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        try:
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            answer = Answer(step, sent, time.monotonic(), response.status,
                            response.getheader("Content-Type", ""), response.read(),
                            response.getheader("Retry-After"))
        except (OSError, http.client.HTTPException) as e:
            answer = Answer(step, sent, time.monotonic(), None, "", repr(e).encode())
        finally:
            connection.close()
        with self.lock:
            self.answers.append(answer)
        return answer

    def login(self, username, password=PASSWORD, step="login", address=None):
        return self.call(step, "POST", "/users/login/",
                         {"username": username, "password": password}, address=address)


def random_address():
    """A client address of its own for each request (the server trusts one proxy), so
    that the per-address throttle does not turn the whole load into 429s."""
    return "10.{}.{}.{}".format(*(random.randrange(1, 255) for _ in range(3)))


def run_load(client, account, stop, unknown):
    """One client thread: the whole session cycle, paced to ``RATE`` requests a second."""
    pace = itertools.count()
    started = time.monotonic()

    def step(*args, **kwargs):
        delay = started + next(pace) / RATE - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return client.call(*args, **kwargs)

    while not stop.is_set():
        login = step("login", "POST", "/users/login/", {"username": account, "password": PASSWORD})
        tokens = login.body if login.status == 200 else None
        if tokens:
            bearer = {"Authorization": f"Bearer {tokens['token']}"}
            step("me", "GET", "/users/me", headers=bearer)
            step("verify", "POST", "/users/login/verify", {"token": tokens["token"]})
            step("refresh", "POST", "/users/login/refresh", {"refresh": tokens["refresh"]})
            if step("logout", "POST", "/users/logout", {"refresh": tokens["refresh"]},
                    headers=bearer).status == 200:
                step("refresh-dead", "POST", "/users/login/refresh", {"refresh": tokens["refresh"]})
                step("verify-dead", "POST", "/users/login/verify", {"token": tokens["token"]})
        # Wrong passwords: an unknown account's, and a real account's (soon throttled).
        step("login-wrong", "POST", "/users/login/",
             {"username": f"nobody-{next(unknown)}", "password": "wrong"})
        step("login-wrong", "POST", "/users/login/", {"username": TARGET, "password": "wrong"})


class Probe:
    """The test's own checks, made with the probe account from one fixed address."""

    ADDRESS = "203.0.113.7"

    def __init__(self, client):
        self.client = client

    def session(self):
        """A fresh login's tokens (the service must be up)."""
        answer = self.client.login(PROBE, step="login", address=self.ADDRESS)
        assert answer.status == 200, str(answer)
        return answer.body

    def logged_out_session(self):
        """Tokens of a session logged out (the access token sent along) before an outage."""
        tokens = self.session()
        answer = self.client.call("logout", "POST", "/users/logout", {"refresh": tokens["refresh"]},
                                  headers={"Authorization": f"Bearer {tokens['token']}"},
                                  address=self.ADDRESS)
        assert answer.status == 200, str(answer)
        return tokens

    def wait_for_recovery(self, since):
        """Seconds until a login answers with the cart and ``me`` answers, after ``since``."""
        deadline = since + RECOVERY
        while True:
            login = self.client.login(PROBE, step="login", address=self.ADDRESS)
            if login.status == 200 and isinstance(login.body.get("cart_total"), int):
                me = self.client.call("me", "GET", "/users/me", address=self.ADDRESS,
                                      headers={"Authorization": f"Bearer {login.body['token']}"})
                if me.status == 200:
                    return time.monotonic() - since
            assert time.monotonic() < deadline, f"no recovery within {RECOVERY}s: {login}"
            time.sleep(0.2)

    def check_kept(self, live, dead, denylist_kept):
        """The session from before the outage still refreshes; the logged-out one stays dead."""
        answer = self.client.call("refresh", "POST", "/users/login/refresh",
                                  {"refresh": live["refresh"]}, address=self.ADDRESS)
        assert answer.status == 200 and "access" in answer.body, str(answer)
        answer = self.client.call("refresh-dead", "POST", "/users/login/refresh",
                                  {"refresh": dead["refresh"]}, address=self.ADDRESS)
        assert answer.status == 401 and answer.body["code"] == "token_not_valid", str(answer)
        if denylist_kept:  # a Redis that was killed without persistence forgot its denylist
            answer = self.client.call("verify-dead", "POST", "/users/login/verify",
                                      {"token": dead["token"]}, address=self.ADDRESS)
            assert answer.status == 401 and answer.body["code"] == "token_not_valid", str(answer)


@pytest.fixture
def service(postgres, redis_server):
    """gunicorn, two gthread workers, behind one trusted proxy; password hashes that take
    a few milliseconds (production's would take the two shared cores)."""
    env = server_env(postgres.url, redis_server.url, TRUSTED_PROXIES=1,
                     PASSWORD_HASH_MEMORY_COST=8192, PASSWORD_HASH_TIME_COST=1)
    flask(env, "db", "upgrade")
    for username in (*ACCOUNTS, PROBE, TARGET):
        flask(env, "users", "create", username, "--password", PASSWORD)
    with Server(env, workers=2) as running:
        yield running


def problems(answers, database_out, redis_out, calm_since):
    """What in ``answers`` breaks the contract, one line each."""
    found = []
    for answer in answers:
        body = answer.body
        if answer.status is None:
            found.append(f"no answer: {answer}")
            continue
        if not answer.content_type.startswith("application/json") or not isinstance(body, dict):
            found.append(f"not JSON: {answer}")
            continue
        if answer.status not in ALLOWED[answer.step]:
            found.append(f"status not allowed: {answer}")
            continue
        if answer.status >= 400:
            if body.get("code") not in ERROR_CODES[answer.status] or \
                    not isinstance(body.get("detail"), str):
                found.append(f"not the error shape: {answer}")
            if answer.status == 429 and not (answer.retry_after or "").isdigit():
                found.append(f"429 without Retry-After: {answer}")
            if answer.status == 503 and not answer.during(database_out):
                found.append(f"503 outside a database outage (a Redis error escaped): {answer}")
            if answer.status == 503 and answer.sent > calm_since:
                found.append(f"503 after the recovery: {answer}")
        elif answer.step == "login":
            if set(body) != {"token", "refresh", "cart_total"}:
                found.append(f"not the login answer: {answer}")
            elif body["cart_total"] is None and not answer.during(redis_out):
                found.append(f"cart_total null outside a Redis outage: {answer}")
            elif not isinstance(body["cart_total"], (int, type(None))):
                found.append(f"cart_total not an integer: {answer}")
    return found


CALLERS = re.compile(r'File "[^"]*/((?:luffy|limits|flask_sqlalchemy)/[^"]+)", line \d+, in (\w+)')


EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Timeout|Shutdown)\b.*", re.M)


def culprit(trace):
    """The innermost frame of luffy, Flask-Limiter or Flask-SQLAlchemy in ``trace``: the
    call that met the failure."""
    frames = CALLERS.findall(trace)
    return f"{frames[-1][0]}:{frames[-1][1]}" if frames else "-"


def server_errors(server):
    """What the server logged with a traceback: ``{"who: error (call)": count}``.

    The app's own lines (JSON, with ``exc_info``), Flask's "Exception on ..." (an error
    escaped to ``handle_exception``: a 500) and gunicorn's "Error handling request" (an
    error escaped the app: gunicorn's HTML page), each with its traceback's last line and
    the call that met it.
    """
    if not server.log_path.exists():
        return {}
    counts = {}
    lines = server.log_path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        who = trace = None
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("level") == "ERROR" and "exc_info" in entry:
                who, trace = f"luffy: {entry['message']}", entry["exc_info"]
        elif "Exception on " in line or "Error handling request" in line:
            block = itertools.takewhile(lambda text: not text.startswith(("{", "[", "127.0.0.1")),
                                        lines[i + 1:])
            who = "flask: Exception on" if "Exception on " in line else "gunicorn: Error handling request"
            trace = "\n".join(block)
        if who:
            raised = EXCEPTION_LINE.findall(trace)
            key = f"{who}: {raised[-1][:100] if raised else '?'} ({culprit(trace)})"
            counts[key] = counts.get(key, 0) + 1
    return counts


def login_lines(server):
    """The app's login lines: ``[(outcome, status), ...]``."""
    found = []
    for line in server.log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "login":
                found.append((entry["outcome"], entry["status"]))
    return found


def summary(answers):
    """``step: {status: count}`` of the load, for the test's output."""
    table = {}
    for answer in answers:
        table.setdefault(answer.step, {}).setdefault(answer.status, 0)
        table[answer.step][answer.status] += 1
    return "\n".join(f"  {step:13} {dict(sorted(counts.items(), key=str))}"
                     for step, counts in sorted(table.items()))


def test_outages_under_load(service, postgres, redis_server):
    client = Client(service.port)
    probe = Probe(client)
    stop = threading.Event()
    unknown = itertools.count()
    threads = [threading.Thread(target=run_load, args=(client, ACCOUNTS[i % len(ACCOUNTS)], stop, unknown),
                                daemon=True) for i in range(THREADS)]
    database_out, redis_out, recovered = [], [], {}

    def outage(name, windows, start, end, denylist_kept):
        live, dead = probe.session(), probe.logged_out_session()
        time.sleep(STEADY)
        began = time.monotonic()
        start()
        time.sleep(OUTAGE)
        end()
        ended = time.monotonic()
        recovered[name] = probe.wait_for_recovery(ended)
        windows.append((began, ended + recovered[name]))
        probe.check_kept(live, dead, denylist_kept)

    for thread in threads:
        thread.start()
    try:
        outage("redis killed", redis_out, redis_server.kill, redis_server.start, denylist_kept=False)
        outage("redis frozen", redis_out, redis_server.freeze, redis_server.thaw, denylist_kept=True)
        outage("postgres restarted", database_out, postgres.stop, postgres.start, denylist_kept=True)
        calm_since = time.monotonic()
        time.sleep(STEADY)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    answers = list(client.answers)
    elapsed = answers[-1].received - answers[0].sent

    report = (f"{len(answers)} answers in {elapsed:.0f}s ({len(answers) / elapsed:.0f}/s); "
              f"recovered in " + ", ".join(f"{k} {v:.1f}s" for k, v in recovered.items())
              + "\n" + summary(answers))
    print(report)
    found = problems(answers, database_out, redis_out, calm_since)
    # An outage is logged as one, not as a burst of failed logins.
    logged = login_lines(service) if service.log_path.exists() else []
    misnamed = [(outcome, status) for outcome, status in logged if status == 503 and outcome != "unavailable"]
    if misnamed:
        found.append(f"{len(misnamed)} logins that met an outage are logged as {set(misnamed)}")
    refused = sum(1 for a in answers if a.step.startswith("login") and a.status == 401)
    failures = sum(1 for outcome, _ in logged if outcome == "failure")
    if logged and failures != refused:
        found.append(f"{failures} login lines say failure, {refused} logins answered 401")
    errors = server_errors(service)
    assert not found, (f"{len(found)} problems:\n  " + "\n  ".join(found[:40])
                       + f"\n{report}\nserver errors: " + json.dumps(errors, indent=1))
    assert len(answers) / elapsed > 30, report  # the load really ran throughout
    assert {a.step for a in answers if a.sent > calm_since and a.status == 200} >= {
        "login", "me", "verify", "refresh", "logout"}, report
