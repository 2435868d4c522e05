"""Nothing a client sends produces a 500: odd, huge, malformed and hostile requests."""

import base64
import json

import pytest

from tests.accounts import PASSWORD, AuthActions

LOGIN = "/users/login/"


@pytest.fixture
def client(make_app):
    """A client of an app that answers unexpected exceptions with 500 instead of raising."""
    return make_app(PROPAGATE_EXCEPTIONS=False).test_client()


def b64(raw):
    return base64.b64encode(raw).decode()


def unsigned_jwt(header, payload):
    """A token with an arbitrary header and payload and a bogus signature."""
    def part(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part(header)}.{part(payload)}.c2ln"


def answer(response, *statuses):
    """Assert a JSON error in the contract's shape with one of ``statuses``; return the code."""
    assert response.status_code in statuses, (response.status_code, response.get_data()[:300])
    body = response.get_json()
    assert set(body) <= {"code", "detail", "errors"} and body["code"] and body["detail"]
    return body["code"]


def post(client, data, content_type="application/json", path=LOGIN, **kwargs):
    return client.post(path, data=data, content_type=content_type, **kwargs)


@pytest.mark.parametrize("path", [LOGIN, "/users/login/refresh", "/users/login/verify", "/users/logout"])
@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x"])
def test_body_over_the_limit_is_413(client, path, content_type):
    response = post(client, b"a=" + b"x" * (1024 * 1024 + 1), content_type, path=path)
    assert answer(response, 413) == "payload_too_large"


LIMIT = 1024 * 1024
CHUNKED_BODIES = [  # (Content-Type, a body of exactly ``size`` bytes, the credentials last)
    ("application/json",
     lambda size: b'{"pad": "' + b"x" * (size - 53) + b'", "username": "alice", "password": "wrong"}'),
    ("application/x-www-form-urlencoded",
     lambda size: b"pad=" + b"x" * (size - 34) + b"&username=alice&password=wrong"),
]


def post_chunked(client, content_type, body, path=LOGIN):
    """POST ``body`` without a Content-Length, as a WSGI server hands on a chunked one:
    de-chunked, with ``wsgi.input_terminated`` set (gunicorn, mod_wsgi, uwsgi, werkzeug)."""
    import io

    return client.post(path, input_stream=io.BytesIO(body), environ_base={"wsgi.input_terminated": True},
                       headers={"Transfer-Encoding": "chunked", "Content-Type": content_type})


@pytest.mark.parametrize("path", [LOGIN, "/users/login/refresh", "/users/login/verify", "/users/logout"])
@pytest.mark.parametrize("content_type, make_body", CHUNKED_BODIES)
def test_chunked_body_over_the_limit_is_413(client, path, content_type, make_body):
    response = post_chunked(client, content_type, make_body(LIMIT + 1), path=path)
    assert answer(response, 413) == "payload_too_large"


@pytest.mark.parametrize("content_type, make_body", CHUNKED_BODIES)
def test_chunked_body_at_the_limit_is_read_whole(client, alice, content_type, make_body):
    body = make_body(LIMIT)
    assert len(body) == LIMIT
    # Read whole: a truncated body would lose the credentials at its end (400).
    assert answer(post_chunked(client, content_type, body), 401) == "authentication_failed"


def test_small_chunked_body_logs_in(client, alice):
    body = json.dumps({"username": "alice", "password": PASSWORD}).encode()
    assert post_chunked(client, "application/json", body).status_code == 200


@pytest.mark.slow
def test_chunked_body_over_the_limit_is_413_under_gunicorn(tmp_path, make_app):
    """The same through real gunicorn, which de-chunks the body for the app."""
    import http.client

    from tests.backends import DATABASE_URL, REDIS_URL
    from tests.servers import Server, flask, server_env

    make_app()  # on a real database: empties the tables
    env = server_env(DATABASE_URL or f"sqlite:///{tmp_path}/luffy.db", REDIS_URL)
    flask(env, "db", "upgrade")

    def send(content_type, body):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))
        connection.request("POST", LOGIN, body=chunks, encode_chunked=True,
                           headers={"Content-Type": content_type})
        response = connection.getresponse()
        try:
            return response.status, json.loads(response.read())
        finally:
            connection.close()

    with Server(env) as server:
        for content_type, make_body in CHUNKED_BODIES:
            assert send(content_type, make_body(LIMIT + 1))[1]["code"] == "payload_too_large"
            assert send(content_type, make_body(LIMIT)) == (401, {
                "code": "authentication_failed",
                "detail": "No active account found with the given credentials"})


def test_many_form_fields_are_not_a_crash(client):
    body = "&".join(f"f{i}=1" for i in range(50000))
    assert answer(post(client, body, "application/x-www-form-urlencoded"), 400) == "invalid"


@pytest.mark.parametrize("body", [
    "[" * 100000 + "]" * 100000,                      # deeper than the parser's recursion
    '{"username": ' + '{"a": ' * 30 + "1" + "}" * 30 + ', "password": "x"}',  # past JSON_MAX_DEPTH
])
def test_deep_json_is_a_parse_error(client, body):
    assert answer(post(client, body), 400) == "parse_error"


def test_json_at_the_depth_limit_still_parses(client):
    nested = '{"username": "a", "password": "b", "extra": ' + "[" * 18 + "]" * 18 + "}"
    assert answer(post(client, nested), 401) == "authentication_failed"


@pytest.mark.parametrize("body", [
    b'{"username": "\xff\xfe", "password": "x"}',     # invalid UTF-8
    '{"username": "\\ud800", "password": "x"}',       # a lone surrogate: valid JSON, not text
    '{"username": "alice", "password": "\\udfff"}',
    '{"username": "a\\ud800@x.com", "password": "x"}',
    '{"username": ' + "9" * 5000 + ', "password": "x"}',  # an integer too long to convert
    '{"username": "alice", "password": "x"',            # truncated
    "",
])
def test_malformed_json_is_a_parse_error(client, body):
    assert answer(post(client, body), 400) == "parse_error"


@pytest.mark.parametrize("body", [
    '{"username": NaN, "password": Infinity}', '{"username": ["a"], "password": {"b": 1}}',
    "[]", "3", '"text"', '{"username": true, "password": null}', '{"cookies": "maybe"}',
])
def test_wrong_json_values_are_invalid(client, body):
    assert answer(post(client, body), 400) == "invalid"


def test_password_change_with_a_lone_surrogate(client, alice):
    headers = AuthActions(client).headers()
    body = '{"old_password": "\\ud800", "new_password": "\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800\\ud800"}'
    assert answer(post(client, body, path="/users/password", headers=headers), 400) == "parse_error"


@pytest.mark.parametrize("data, content_type", [
    (b"username=%ff%fe&password=%ff", "application/x-www-form-urlencoded"),
    (b"username=\xff\xfe&password=\xff", "application/x-www-form-urlencoded"),
    (b'--XX\r\nContent-Disposition: form-data; name="username"\r\n\r\n\xff\xfe\r\n'
     b'--XX\r\nContent-Disposition: form-data; name="password"\r\n\r\nx\r\n--XX--\r\n',
     "multipart/form-data; boundary=XX"),
    (b"garbage", "multipart/form-data"),
    (b'--XX\r\nContent-Disposition: form-data; name="username"; filename="a"\r\n\r\nalice\r\n--XX--\r\n',
     "multipart/form-data; boundary=XX"),
    ('{"username": "alice", "password": "x"}'.encode("utf-16"), "application/json; charset=utf-16"),
    (b"{}", "application/json;;;==="),
])
def test_odd_encodings_are_client_errors(client, alice, data, content_type):
    answer(post(client, data, content_type), 400, 401)


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "image/png",
                                          "application/octet-stream", ""])
def test_other_media_types_are_415(client, content_type):
    assert answer(post(client, b"hello", content_type), 415) == "unsupported_media_type"


@pytest.mark.parametrize("data, content_type", [
    ('{"username": "al\\u0000ice", "password": "x\\u0000"}', "application/json"),
    ("username=al%00ice&password=x%00", "application/x-www-form-urlencoded"),
])
def test_nul_bytes_are_just_wrong_credentials(client, alice, data, content_type):
    assert answer(post(client, data, content_type), 401) == "authentication_failed"


@pytest.mark.parametrize("username", ["🦊" * 254, "é" * 254, "x" * 254, "a\u202eb", "\t\n"])
def test_long_and_exotic_identifiers_are_wrong_credentials(client, alice, username):
    response = client.post(LOGIN, json={"username": username, "password": "p" * 1024})
    assert answer(response, 401) == "authentication_failed"


@pytest.mark.parametrize("authorization", [
    "Bearer " + "x" * 100000,
    "Basic " + b64(b"a" * 50000 + b":" + b"b" * 50000),
    "Basic !!!!", "Basic " + b64(b"alice"), "Basic " + b64(b"\xff\xfe:\xff"),
    "Basic " + b64(b"al\x00ice:pw\x00"), "Basic " + b64("🦊:🦊".encode()), "Basic ", "Basic",
    "Bearer", "Bearer ", "Bearer  a b c", "bearer x.y.z", "BEARER a.b.c", "Bearer a.b",
    "Bearer " + unsigned_jwt({"alg": "HS256", "kid": [1]}, {"user_id": 1}),
    "Bearer " + unsigned_jwt({"alg": "HS256", "kid": {"a": 1}}, {"user_id": 1}),
    "Bearer " + unsigned_jwt({"alg": "none"}, {"user_id": 1, "token_type": "access"}),
    "Bearer " + unsigned_jwt({"alg": ["HS256"]}, {"user_id": 1}),
    "Bearer " + unsigned_jwt({"alg": "HS256"}, {"user_id": "1; DROP TABLE users"}),
    "Bearer " + b64(b"[1]") + ".e30.c2ln", "Bearer " + b64(b"\xff") + ".e30.c2ln",
    "Digest username=alice", "\x7f\x01", "", " ",
])
@pytest.mark.parametrize("path", ["/users/me", "/users/password"])
def test_bad_authorization_headers_are_401(client, alice, authorization, path):
    method = client.get if path == "/users/me" else client.post
    response = method(path, headers={"Authorization": authorization})
    answer(response, 400, 401)
    assert "WWW-Authenticate" in response.headers or response.status_code == 400


@pytest.mark.parametrize("token", [
    "a.b.c", "x" * 8192, unsigned_jwt({"alg": "HS256", "kid": [1]}, {}),
    unsigned_jwt({"alg": "HS256", "kid": {}}, {"token_type": "refresh"}), "é.é.é", "..",
])
@pytest.mark.parametrize("path, field", [("/users/login/verify", "token"),
                                         ("/users/login/refresh", "refresh"),
                                         ("/users/logout", "refresh")])
def test_garbage_tokens_are_token_not_valid(client, token, path, field):
    assert answer(client.post(path, json={field: token}), 401) == "token_not_valid"


@pytest.mark.parametrize("path, field", [("/users/login/verify", "token"),
                                         ("/users/login/refresh", "refresh")])
def test_over_long_tokens_are_invalid(client, path, field):
    assert answer(client.post(path, json={field: "x" * 8193}), 400) == "invalid"


@pytest.mark.parametrize("cookie", ["refresh_token_cookie=a.b.c", "refresh_token_cookie=\x7fgarbage",
                                    "refresh_token_cookie=" + "x" * 5000])
def test_garbage_refresh_cookies(client, cookie):
    response = client.post("/users/login/refresh", data="", headers={"Cookie": cookie, "X-CSRF-TOKEN": "x"})
    answer(response, 400, 401)


def test_garbage_access_cookie(client):
    response = client.get("/users/me", headers={"Cookie": "access_token_cookie=zz; csrf_access_token=\x01"})
    answer(response, 401)


@pytest.mark.parametrize("method, path", [
    ("PUT", LOGIN), ("DELETE", "/users/me"), ("PATCH", "/users/logout"), ("GET", "/users/login/refresh"),
    ("GET", "/" + "a" * 20000), ("GET", "/users/%ff%00"), ("POST", "/healthz"), ("TRACE", "/users/me"),
])
def test_wrong_methods_and_paths(client, method, path):
    answer(client.open(path, method=method), 404, 405)


def test_odd_query_strings_and_forwarding_headers(client, alice):
    response = client.post(LOGIN + "?cookies=%ff&cookies=1&x=%00", json={"username": "alice", "password": PASSWORD},
                           headers={"X-Forwarded-For": "garbage,,,", "X-CSRF-TOKEN": "\x01"})
    assert response.status_code == 200
    assert client.get("/.well-known/jwks.json?x=%ff").status_code == 200


def test_duplicate_json_keys_take_the_last(client, alice):
    body = '{"username": "nobody", "username": "alice", "password": "%s"}' % PASSWORD
    assert post(client, body).status_code == 200
