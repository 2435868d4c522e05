"""Schemathesis against /openapi.json: no 5xx, and every answer as the document says.

Every operation is fuzzed in-process (WSGI, the testing configuration through the
conftest fixtures, so also on PostgreSQL/MariaDB + Redis when those are set) with
positive and negative data, bounded by ``MAX_EXAMPLES`` per operation: the whole file
takes well under a minute on SQLite. Protected endpoints get alice's real access token
unless the generated case brings an ``Authorization`` of its own. Then each operation
is called once with valid data, and the 413/415/429/503 answers are provoked, so that
they are checked against the document too.
"""

import fakeredis
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance, negative_data_rejection, response_headers_conformance,
    response_schema_conformance, status_code_conformance,
)

from luffy import create_app
from luffy.openapi import build_spec
from tests.accounts import PASSWORD, AuthActions

pytestmark = [
    pytest.mark.slow,
    # schemathesis' WSGI transport reads but never closes a response, so the login page's
    # file (sent with send_file) is closed by the garbage collector instead.
    pytest.mark.filterwarnings("ignore:Exception ignored in. <_io.FileIO name='[^']*/luffy/web/static/"
                               ":pytest.PytestUnraisableExceptionWarning"),
]

MAX_EXAMPLES = 100
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]
PROTECTED = ("/users/me", "/users/password")


@pytest.fixture
def fuzzed(app, user):
    """The app with alice in it, and her Bearer headers."""
    return app, AuthActions(app.test_client()).headers()


# Loaded from an app of its own, not from a fixture's: schemathesis' lazy fixture loader
# does not run on pytest 9. test_valid_requests_conform checks that the app serves it.
schema = schemathesis.openapi.from_dict(build_spec(create_app("testing")))


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_fuzz(case, fuzzed):
    """Generated requests get documented answers, and never a 5xx."""
    if case.path in PROTECTED and "Authorization" not in case.headers:
        case.headers["Authorization"] = fuzzed[1]["Authorization"]
    case.call_and_validate(checks=CHECKS, app=fuzzed[0])


def test_valid_requests_conform(fuzzed):
    """The app serves this document, and one valid call of each operation answers 200."""
    app, bearer = fuzzed
    assert app.test_client().get("/openapi.json").get_json() == build_spec(app)

    def call(path, method="POST", **kwargs):
        case = schema[path][method].Case(**kwargs)
        response = case.call_and_validate(checks=CHECKS, app=app)
        assert response.status_code == 200, (path, response.text)
        return response.json() if "json" in response.headers.get("content-type", [""])[0] else None

    login = {"username": "alice", "password": PASSWORD}
    tokens = call("/users/login", body=login, media_type="application/json")
    call("/users/login", body=login, media_type="application/x-www-form-urlencoded")
    call("/users/login/verify", body={"token": tokens["token"]}, media_type="application/json")
    call("/users/login/refresh", body={"refresh": tokens["refresh"]}, media_type="application/json")
    call("/users/me", method="GET", headers=bearer)
    call("/users/me", method="GET", headers=AuthActions.basic())
    call("/users/logout", body={"refresh": tokens["refresh"]}, media_type="application/json")
    call("/users/password", headers=bearer, media_type="application/json",
         body={"old_password": PASSWORD, "new_password": PASSWORD + "!"})
    for path in ("/healthz", "/readyz", "/.well-known/jwks.json", "/openapi.json", "/docs", "/"):
        call(path, method="GET")


def test_error_answers_conform(make_app):
    """413, 415, 429 and 503 answers, which random data rarely reaches, are as documented."""
    app = make_app(LOGIN_RATE_LIMIT="1 per minute", MAX_CONTENT_LENGTH=100)
    client = app.test_client()
    wrong = {"username": "nobody", "password": "wrong"}
    answers = [
        client.post("/users/login/", data="x" * 200, content_type="application/json"),
        client.post("/users/login/", data="x", content_type="text/plain"),
        client.post("/users/login/", json=wrong),
        client.post("/users/login/", json=wrong),
    ]
    assert [r.status_code for r in answers] == [413, 415, 401, 429]
    case = schema["/users/login"]["POST"].Case(body=wrong, media_type="application/json")
    for response in answers:
        case.validate_response(response, checks=CHECKS[:-1])

    down = create_app("testing", {"SQLALCHEMY_DATABASE_URI": "postgresql://luffy@127.0.0.1:1/gone"},
                      redis_main=fakeredis.FakeRedis(decode_responses=True))
    client = down.test_client()
    for path, method, response in (("/users/login", "POST", client.post("/users/login/", json=wrong)),
                                   ("/readyz", "GET", client.get("/readyz"))):
        assert response.status_code == 503  # documented; not_a_server_error would flag any 5xx
        schema[path][method].Case().validate_response(response, checks=CHECKS[1:-1])
