"""No log line holds a full mobile number from a path (``/users/mobile/<m>``,
``/users/sms/<m>``): luffy's own JSON lines mask their ``path`` and message, and a
gunicorn booted from ``gunicorn.conf.py`` masks its access lines, in workers booted
after a HUP reload too. The mask is the senders' one: ``139****09``."""

import json
import signal
import time

import pytest

from luffy import logs
from tests.backends import BROKER_URL, DATABASE_URL
from tests.servers import (
    BareServer, booted_workers, drop_queue, flask, free_port, queue_name, request, server_env,
)

NUMBER = "13900000009"
MASKED = "139****09"


@pytest.mark.parametrize("text, shown", [
    ("/users/mobile/13900000009", "/users/mobile/139****09"),
    ("/users/sms/13900000009/", "/users/sms/139****09/"),
    ('"POST /users/sms/13900000009?purpose=login HTTP/1.1" 202',
     '"POST /users/sms/139****09?purpose=login HTTP/1.1" 202'),
    ("path=/users/sms/13900000009]", "path=/users/sms/139****09]"),
    ("/users/mobile/%EF%BC%91%EF%BC%93", "/users/mobile/%EF****93"),  # fullwidth, as sent
    ("/users/mobile/123", "/users/mobile/****"),  # too short to show any of it
    ("/users/login/sms", "/users/login/sms"),
])
def test_the_mobile_of_a_path_is_masked_wherever_it_stands(text, shown):
    assert logs.redact(text) == shown
    assert logs.redact(shown) == shown  # masking twice changes nothing
    assert logs.masked(NUMBER) == MASKED and logs.masked("alice@example.com") == "al****@example.com"


def test_luffys_json_lines_mask_the_path(make_app, capsys):
    client = make_app(LOG_JSON=True, LOG_LEVEL="DEBUG").test_client()
    capsys.readouterr()
    assert client.get(f"/users/mobile/{NUMBER}").status_code == 200
    assert client.post(f"/users/sms/{NUMBER}", json={"purpose": "login"}).status_code == 202
    assert client.post(f"/users/sms/{NUMBER}", json={"purpose": "bogus"}).status_code == 400
    err = capsys.readouterr().err
    assert NUMBER not in err, err
    paths = [json.loads(line).get("path") for line in err.splitlines() if line.startswith("{")]
    assert paths.count(f"/users/mobile/{MASKED}") == 1 and paths.count(f"/users/sms/{MASKED}") >= 2


@pytest.mark.slow
def test_gunicorns_access_lines_mask_the_path_after_a_reload_too(tmp_path, make_app):
    make_app()  # on a real database: empties the tables
    port, queue = free_port(), queue_name()
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", LOG_LEVEL="DEBUG",
                     CELERY_QUEUE=queue)  # no worker: the message waits in its queue
    flask(env, "db", "upgrade")
    env.update(GUNICORN_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1", GUNICORN_THREADS="2")
    log_path = tmp_path / "gunicorn.log"
    try:
        with BareServer(env, port, log_path) as server:
            requests = [("GET", f"/users/mobile/{NUMBER}", None, 200),
                        ("POST", f"/users/sms/{NUMBER}", {"purpose": "bogus"}, 400),
                        ("POST", f"/users/sms/{NUMBER}/?purpose=x", {"purpose": "login"}, 202)]
            for method, path, body, status in requests:
                assert request(method, server.url + path, body)[0] == status
            server.process.send_signal(signal.SIGHUP)  # new workers, from the master
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and len(booted_workers(log_path)) < 2:
                time.sleep(0.2)
            server.wait_ready()
            assert request("GET", f"{server.url}/users/mobile/{NUMBER}")[0] == 200
    finally:
        drop_queue(BROKER_URL, queue)
    text = log_path.read_text()
    assert len(booted_workers(log_path)) == 2, text
    assert NUMBER not in text, text
    assert text.count(f'"GET /users/mobile/{MASKED} HTTP/1.1" 200') == 2  # before and after
    assert f'"POST /users/sms/{MASKED} HTTP/1.1" 400' in text
    assert f'"POST /users/sms/{MASKED}/?purpose=x HTTP/1.1" 202' in text
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert {"path": f"/users/sms/{MASKED}", "status": 400}.items() <= \
        next(line for line in lines if line.get("status") == 400).items()
