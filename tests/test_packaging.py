"""``pip install .`` (not editable) gives a service that runs from any directory.

The top-level ``config.py`` and ``wsgi.py``, the migrations, the templates and the
static files ship in the distribution: from an empty directory, ``flask --app wsgi db
upgrade`` builds the schema and ``gunicorn wsgi:app`` serves.
"""

import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request

import pytest

from tests.servers import PRODUCTION_MESSAGES, ROOT, free_port

pytestmark = pytest.mark.slow

NOT_SHIPPED = shutil.ignore_patterns(".git", ".venv", "instance", "build", "dist", "*.egg-info",
                                     "__pycache__", ".pytest_cache", "*.db", "*.sqlite3", "out")


def get(url):
    """The status of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with ``pip install --no-deps .`` of a copy of the checkout; its
    dependencies come from the test run's own site-packages (a path, not a package)."""
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SHIPPED)
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = str(venv / "bin" / "python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    # A plain path: the .pth files there (the checkout's editable install) are not run.
    with open(os.path.join(purelib, "_luffy_test_dependencies.pth"), "w") as pth:
        pth.write("\n".join(sorted(ours)) + "\n")
    result = subprocess.run([python, "-m", "pip", "install", "-v", "--no-deps", str(source)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return python, purelib, result.stdout + result.stderr


@pytest.fixture
def env(tmp_path):
    """A production environment with nothing of the checkout in it."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LUFFY_", "PYTHON", "SERVER_SOFTWARE", "FLASK_"))
           and k not in ("REDIS_URL", "CART_REDIS_URL", "DATABASE_URL", "SECRET_KEY")}
    env.update(SECRET_KEY=secrets.token_hex(32), DATABASE_URL=f"sqlite:///{tmp_path}/luffy.db",
               REDIS_URL="memory://", PYTHONUNBUFFERED="1",
               **{f"LUFFY_{key}": value for key, value in PRODUCTION_MESSAGES.items()})
    return env


def test_the_build_warns_of_no_missing_package(installed):
    output = installed[2]
    assert "absent from the `packages` configuration" not in output
    assert "Successfully installed luffy" in output


def test_the_installed_copy_migrates_and_serves_from_an_empty_directory(installed, env, tmp_path):
    python, purelib, _ = installed
    empty = tmp_path / "empty"
    empty.mkdir()
    where = subprocess.run(
        [python, "-c", "import config, luffy, wsgi; print(config.__file__, luffy.__file__, wsgi.__file__)"],
        cwd=empty, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert all(path.startswith(purelib) for path in where), where

    migrated = subprocess.run([python, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=empty,
                              env=env, capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    assert "7d2b4c9e1a05" in migrated.stderr  # the last migration ran
    created = subprocess.run([python, "-m", "flask", "--app", "wsgi", "users", "create", "pia",
                              "--password", "a packaged password"], cwd=empty, env=env,
                             capture_output=True, text=True)
    assert "created user" in created.stdout, created.stderr

    port = free_port()
    server = subprocess.Popen([python, "-m", "gunicorn", "wsgi:app", "-b", f"127.0.0.1:{port}",
                               "-w", "1"], cwd=empty, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if get(url + "/healthz") == 200:
                    break
            except OSError:
                time.sleep(0.2)
        assert server.poll() is None, server.stderr.read()
        assert get(url + "/healthz") == 200
        assert get(url + "/readyz") == 200
        assert get(url + "/docs") == 200  # a template of the package
        assert get(url + "/") == 200  # the login page's static files
        login = urllib.request.Request(url + "/users/login/", method="POST",
                                       data=b"username=pia&password=a+packaged+password")
        with urllib.request.urlopen(login, timeout=10) as response:
            assert response.status == 200
    finally:
        server.terminate()
        server.wait(timeout=15)
        server.stderr.close()
