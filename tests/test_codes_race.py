"""The try limit cannot be raced: no code is ever compared with more than
``CODE_MAX_TRIES`` (5) wrong guesses, whatever the concurrency, and a right code is
used once.

In Redis (fast): guesses that arrive while another is being compared. Under gunicorn
(slow): many SMS-login guesses at once, each comparison counted inside the server
(tests/compare_counter.py).
"""

import hmac
import random
import types

import pytest
import redis

from luffy.core import codes
from tests.backends import DATABASE_URL, REDIS_URL
from tests.servers import Server, flask, race, request, server_env

MOBILE = "13912345678"
PASSWORD = "a long and unusual passphrase"
MAX_TRIES = 5  # CODE_MAX_TRIES's default
COMPARED = "test:compared"  # the list where tests/compare_counter.py records comparisons


def wrong_guesses(code, n):
    """``n`` distinct six-digit codes, none of them ``code``."""
    return [f"{(int(code) + i) % 10 ** 6:06d}" for i in range(1, n + 1)]


@pytest.fixture
def comparisons(monkeypatch):
    """Every comparison luffy/core/codes.py makes, as True (matched) or False; a test
    may set ``during_first`` to run while the first comparison is under way."""
    seen = types.SimpleNamespace(outcomes=[], during_first=None)

    def compare_digest(a, b):
        same = hmac.compare_digest(a, b)
        seen.outcomes.append(same)
        if len(seen.outcomes) == 1 and seen.during_first:
            seen.during_first()
        return same

    monkeypatch.setattr(codes, "hmac", types.SimpleNamespace(new=hmac.new,
                                                             compare_digest=compare_digest))
    return seen


def test_guesses_that_arrive_during_a_comparison_find_the_tries_already_counted(app, comparisons):
    destination = codes.sms(MOBILE)
    with app.app_context():
        code = codes.issue(destination, "login")
        first, *others = wrong_guesses(code, 10)
        # While the first guess is being compared, nine more come in, one after another.
        comparisons.during_first = lambda: [codes.check(destination, "login", g) for g in others]
        assert codes.check(destination, "login", first) is None
        assert comparisons.outcomes.count(False) == MAX_TRIES, comparisons.outcomes
        # The tries are used up: the right code is refused without being compared.
        assert codes.check(destination, "login", code) is None
        assert comparisons.outcomes.count(True) == 0


def test_a_right_code_checked_gives_its_try_back_and_is_used_once(app, comparisons):
    destination = codes.sms(MOBILE)
    with app.app_context():
        code = codes.issue(destination, "register")
        for guess in wrong_guesses(code, MAX_TRIES - 1):
            assert codes.check(destination, "register", guess) is None
        # A form refused for its other fields checks the right code again and again.
        claims = [codes.check(destination, "register", code) for _ in range(2 * MAX_TRIES)]
        assert all(claims)
        assert [codes.consume(claim) for claim in claims].count(True) == 1
        assert codes.check(destination, "register", code) is None


def test_the_fifth_wrong_guess_is_compared_and_the_sixth_is_not(app, comparisons):
    destination = codes.sms(MOBILE)
    with app.app_context():
        code = codes.issue(destination, "login")
        for guess in wrong_guesses(code, MAX_TRIES + 3):
            assert codes.check(destination, "login", guess) is None
        assert comparisons.outcomes == [False] * MAX_TRIES
        assert codes.state(destination)["codes"] == []  # used up: no longer live


def test_a_new_code_has_all_its_tries(app, comparisons):
    destination = codes.sms(MOBILE)
    with app.app_context():
        old = codes.issue(destination, "login")
        for guess in wrong_guesses(old, MAX_TRIES):
            codes.check(destination, "login", guess)
        new = codes.issue(destination, "login")
        for guess in wrong_guesses(new, MAX_TRIES - 1):
            assert codes.check(destination, "login", guess) is None
        claim = codes.check(destination, "login", new)
        assert claim and codes.consume(claim)


@pytest.fixture
def racing_server(tmp_path, make_app, request):
    """gunicorn (4 workers x 8 threads) counting comparisons, an account with ``MOBILE``,
    an app that issues codes into the server's Redis, and that Redis."""
    redis_url = REDIS_URL or request.getfixturevalue("redis_server").url
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", redis_url)
    env["COMPARED_LIST"] = COMPARED
    shared = redis.Redis.from_url(redis_url, decode_responses=True)
    issuer = make_app(redis_main=shared, SECRET_KEY=env["SECRET_KEY"])  # empties the tables
    flask(env, "db", "upgrade")
    flask(env, "users", "create", "sam", "--mobile", MOBILE, "--password", PASSWORD)
    with Server(env, workers=4, args=("--threads", "8"), app="tests.compare_counter:app") as server:
        yield types.SimpleNamespace(url=server.url + "/users/login/sms", issuer=issuer, redis=shared)
    shared.close()


def issue(racing_server):
    """A new login code for ``MOBILE``, in the server's Redis; no record of comparisons."""
    with racing_server.issuer.app_context():
        code = codes.issue(codes.sms(MOBILE), "login")
    racing_server.redis.delete(COMPARED)
    return code


@pytest.mark.slow
def test_concurrent_guesses_compare_no_code_with_more_than_five_wrong_ones(racing_server):
    for _ in range(6):
        code = issue(racing_server)
        guesses = wrong_guesses(code, 31)
        guesses.insert(random.randrange(len(guesses)), code)
        answers = race(racing_server.url, [{"mobile": MOBILE, "sms_code": g} for g in guesses])
        compared = [int(x) for x in racing_server.redis.lrange(COMPARED, 0, -1)]
        statuses = [status for status, _, _ in answers]
        assert compared.count(0) <= MAX_TRIES, compared
        assert set(statuses) <= {200, 401} and statuses.count(200) <= 1, statuses
        if statuses.count(200):  # the right code won only if it was compared in time
            assert statuses[guesses.index(code)] == 200 and compared.index(1) <= MAX_TRIES
        # Used or dead, the code serves no more.
        status, _, _ = request("POST", racing_server.url, {"mobile": MOBILE, "sms_code": code})
        assert status == 401


@pytest.mark.slow
def test_a_right_code_sent_many_times_at_once_logs_in_once(racing_server):
    code = issue(racing_server)
    answers = race(racing_server.url, [{"mobile": MOBILE, "sms_code": code}] * 16)
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] + [401] * 15, statuses
