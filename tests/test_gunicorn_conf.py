"""``gunicorn.conf.py``: its settings, and a server started from it alone."""

import multiprocessing
import os
import re
import runpy
import signal
import sys
import time

import pytest

from tests.servers import ROOT, BareServer, booted_workers, free_port, request, server_env

CONF = str(ROOT / "gunicorn.conf.py")
ENV_NAMES = ("GUNICORN_BIND", "PORT", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_TIMEOUT",
             "GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_KEEPALIVE", "GUNICORN_LOG_LEVEL")


def settings(monkeypatch, **env):
    """The module namespace of gunicorn.conf.py under ``env``."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(CONF)


def test_defaults(monkeypatch):
    conf = settings(monkeypatch)
    assert conf["wsgi_app"] == "wsgi:app"
    assert conf["bind"] == ["127.0.0.1:8000"]
    assert conf["workers"] == multiprocessing.cpu_count() * 2 + 1
    assert conf["worker_class"] == "gthread" and conf["threads"] >= 1
    assert conf["timeout"] > 0 and conf["graceful_timeout"] > 0 and conf["keepalive"] > 0
    assert conf["accesslog"] == "-" and "%({x-request-id}o)s" in conf["access_log_format"]
    assert conf["preload_app"] is False  # HUP reloads the code


def test_environment_overrides(monkeypatch):
    conf = settings(monkeypatch, PORT="9000", WEB_CONCURRENCY="3", GUNICORN_THREADS="8",
                    GUNICORN_TIMEOUT="60", GUNICORN_KEEPALIVE="2")
    assert conf["bind"] == ["0.0.0.0:9000"]
    assert (conf["workers"], conf["threads"], conf["timeout"], conf["keepalive"]) == (3, 8, 60, 2)
    conf = settings(monkeypatch, PORT="9000", GUNICORN_BIND="127.0.0.1:1, unix:/tmp/luffy.sock")
    assert conf["bind"] == ["127.0.0.1:1", "unix:/tmp/luffy.sock"]


@pytest.mark.slow
def test_served_from_the_conf_file_alone(tmp_path, make_app):
    """Binds where the environment says, logs request ids, and reloads on HUP."""
    make_app()
    port = free_port()
    env = server_env(f"sqlite:///{tmp_path}/luffy.db")
    env.update(GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="2", GUNICORN_THREADS="2")
    log_path = tmp_path / "gunicorn.log"
    with BareServer(env, port, log_path) as server:
        status, headers, _ = request("GET", server.url + "/healthz")
        request_id = headers["X-Request-ID"]
        assert status == 200 and request_id

        assert len(booted_workers(log_path)) == 2 and "Using worker: gthread" in log_path.read_text()
        server.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(booted_workers(log_path)) < 4:
            time.sleep(0.2)
        assert len(booted_workers(log_path)) == 4, log_path.read_text()  # two new workers booted
        server.wait_ready()
        assert request("GET", server.url + "/healthz")[0] == 200
        assert server.process.poll() is None  # the master lived through the reload
    text = log_path.read_text()
    assert re.search(rf'"GET /healthz HTTP/1.1" 200 .* request_id={request_id}', text), text


def test_command_line_overrides_the_conf_file():
    """``tests/servers.py`` passes ``-b`` and ``-w``; gunicorn lets them win over the file."""
    from gunicorn.app.wsgiapp import WSGIApplication

    argv = sys.argv
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)
        sys.argv = ["gunicorn", "wsgi:app", "-b", "127.0.0.1:5999", "-w", "1"]
        app = WSGIApplication()
    finally:
        sys.argv = argv
        os.chdir(cwd)
    assert app.cfg.bind == ["127.0.0.1:5999"] and app.cfg.workers == 1
    assert app.cfg.worker_class_str == "gthread"  # the rest still comes from the file
