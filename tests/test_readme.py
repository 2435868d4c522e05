"""The README's curl examples, run against a gunicorn server, so the docs can't drift."""

import re
import subprocess
import sys

import pytest

from tests.backends import DATABASE_URL, REDIS_URL
from tests.servers import ROOT, Server, flask, server_env

pytestmark = pytest.mark.slow


def readme_examples():
    """The shell block between the curl-examples markers of README.md."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- curl-examples:start -->\s*```sh\n(.*?)```\s*<!-- curl-examples:end -->",
                      text, re.S)
    assert block, "README.md lost its curl examples"
    return block.group(1)


def test_readme_curl_examples(tmp_path, make_app):
    make_app()  # on a real database: empties the tables
    # As `make run` serves: the development configuration, whose messages go to the log.
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", REDIS_URL,
                     CONFIG="development", SMS_BACKEND="log", MAIL_SERVER="", CELERY_BROKER_URL="")
    flask(env, "db", "upgrade")
    flask(env, "users", "demo")
    (ROOT / ".pytest_cache").mkdir(exist_ok=True)  # where Server keeps gunicorn's output
    with Server(env) as server:
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", readme_examples()],
                                env={**env, "LUFFY": server.url, "LUFFY_LOG": server.log.name,
                                     "PYTHON": sys.executable},  # the one with luffy's pyotp
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # Two password logins, the sign-up, the new password, the second step of two-factor.
    assert out.count('"cart_total"') == 5
    assert '"type":"password_reset"' in out and '"method":"register"' not in out
    assert '"registered":false' in out and out.count('"resend_after":60') == 2
    assert out.count('"username":"demo"') == 2
    assert '"access"' in out
    assert '"code":"token_not_valid"' in out
    assert '{"status":"ok"}' in out and '"keys":[]' in out
    assert "/users/login" in out and "/users/me" in out
