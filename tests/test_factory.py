"""The factory and the configuration: classes, environment overrides, production checks."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import config
from luffy import create_app
from tests.servers import PRODUCTION_MESSAGES

STRONG = "s" * 40
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ("LUFFY_CONFIG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "CART_REDIS_URL",
                 "SERVER_SOFTWARE"):
        monkeypatch.delenv(name, raising=False)
    for key, value in PRODUCTION_MESSAGES.items():
        monkeypatch.setenv(f"LUFFY_{key}", value)


def test_testing_config():
    assert create_app("testing").testing
    assert not create_app("development", {"SQLALCHEMY_DATABASE_URI": "sqlite://"}).testing


def test_defaults_of_the_contract():
    app = create_app("testing")
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(seconds=300)
    assert app.config["JWT_REFRESH_TOKEN_EXPIRES"] == timedelta(days=1)
    assert app.config["JWT_ALGORITHM"] == "HS256"
    assert app.config["JWT_ROTATE_REFRESH_TOKENS"] is False
    assert app.config["JWT_BLACKLIST_AFTER_ROTATION"] is True
    assert app.config["MAX_CONTENT_LENGTH"] == 1048576
    assert app.config["AUTH_BASIC"] is True
    assert app.config["JWT_IDENTITY_CLAIM"] == "user_id"


def test_prefixed_environment_values_are_json(monkeypatch):
    monkeypatch.setenv("LUFFY_JWT_ROTATE_REFRESH_TOKENS", "true")
    monkeypatch.setenv("LUFFY_JWT_ACCESS_TOKEN_EXPIRES", "60")
    monkeypatch.setenv("LUFFY_LOGIN_RATE_LIMIT", "5 per minute")
    app = create_app("testing")
    assert app.config["JWT_ROTATE_REFRESH_TOKENS"] is True
    assert app.config["JWT_ACCESS_TOKEN_EXPIRES"] == timedelta(seconds=60)
    assert app.config["LOGIN_RATE_LIMIT"] == "5 per minute"


def test_deployment_names(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u@db:5432/luffy")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/3")
    monkeypatch.setenv("SECRET_KEY", STRONG)
    app = create_app("development")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db:5432/luffy"
    assert app.config["REDIS_URL"] == "redis://127.0.0.1:1/3"
    assert app.config["JWT_SECRET_KEY"] == STRONG


def test_mysql_urls_use_pymysql(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://root@127.0.0.1/luffy")
    assert create_app("testing").config["SQLALCHEMY_DATABASE_URI"].startswith("mysql+pymysql://")


@pytest.mark.parametrize("secret, words", [(None, "not set"), ("short", "shorter than 32"),
                                           (config.DEV_SECRET_KEY, "development default")])
def test_production_refuses_a_weak_secret(monkeypatch, secret, words):
    if secret:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(RuntimeError, match=words):
        create_app("production")


def test_production_with_a_strong_secret(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/3")
    app = create_app("production", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["ENV_NAME"] == "production" and not app.debug
    assert app.config["JWT_COOKIE_SECURE"] is True


def test_gunicorn_means_production(monkeypatch):
    monkeypatch.setenv("SERVER_SOFTWARE", "gunicorn/23.0.0")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()
    monkeypatch.setenv("LUFFY_CONFIG", "testing")
    assert create_app().testing


@pytest.mark.parametrize("secret, words", [(None, "SECRET_KEY is not set"),
                                           (config.DEV_SECRET_KEY, "development default")])
def test_any_server_without_luffy_config_is_production(monkeypatch, secret, words):
    """uwsgi, waitress, mod_wsgi and ``flask run`` never fall back on the repository's secret."""
    if secret:
        monkeypatch.setenv("SECRET_KEY", secret)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/3")
    with pytest.raises(RuntimeError, match=words):
        create_app(overrides={"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    monkeypatch.setenv("SECRET_KEY", STRONG)
    assert create_app(overrides={"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["ENV_NAME"] \
        == "production"


@pytest.mark.slow  # starts Python processes that import luffy
def test_flask_command_without_luffy_config_refuses_the_development_secret():
    env = {k: v for k, v in os.environ.items()
           if k not in ("LUFFY_CONFIG", "SECRET_KEY", "SERVER_SOFTWARE")}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "routes"], env=env,
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_only_development_by_name_uses_the_repository_secret():
    app = create_app("development", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["SECRET_KEY"] == app.config["JWT_SECRET_KEY"] == config.DEV_SECRET_KEY
    assert config.Config.SECRET_KEY is None and config.ProductionConfig.SECRET_KEY is None


def test_production_refuses_to_start_without_redis(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STRONG)
    with pytest.raises(RuntimeError, match="REDIS_URL is not set"):
        create_app("production", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_production_takes_the_in_process_store_only_by_name(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("REDIS_URL", "memory://")
    app = create_app("production", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert app.config["REDIS_URL"] is None
    assert app.extensions["luffy_redis"]["main"].ping()


@pytest.mark.parametrize("origin", [
    "*",
    "https://.*\\.example\\.com",
    "https://*.example.com",
    r"^https://app\.example\.com$",
    "https://app.example.com/",
    "https://app.example.com/path",
    "app.example.com",
    "ftp://app.example.com",
    "https://user@app.example.com",
    "null",
    "http://[::1]:8080",  # flask-cors would read the brackets as a character class
    "",
    42,
])
@pytest.mark.parametrize("name", ["testing", "development"])
def test_cors_origins_refuse_wildcards_and_patterns(name, origin):
    with pytest.raises(RuntimeError, match="not an exact origin"):
        create_app(name, {"SQLALCHEMY_DATABASE_URI": "sqlite://", "CORS_ORIGINS": [origin]})


def test_cors_origins_refuse_a_pattern_from_the_environment(monkeypatch):
    monkeypatch.setenv("LUFFY_CORS_ORIGINS", '["https://.*\\\\.example\\\\.com"]')
    with pytest.raises(RuntimeError, match="not an exact origin"):
        create_app("testing")


def test_an_exact_cors_origin_still_works():
    app = create_app("testing", {"CORS_ORIGINS": ["https://App.Example.com:8443",
                                                  "http://127.0.0.1:5173"]})
    assert app.config["CORS_ORIGINS"] == ["https://app.example.com:8443",
                                          "http://127.0.0.1:5173"]
    preflight = {"Access-Control-Request-Method": "POST"}
    client = app.test_client()
    for origin in ("https://app.example.com:8443", "http://127.0.0.1:5173"):
        response = client.options("/users/login/", headers={"Origin": origin, **preflight})
        assert response.headers["Access-Control-Allow-Origin"] == origin
    for origin in ("https://app.example.com:8443.evil.io", "https://app.example.com"):
        response = client.options("/users/login/", headers={"Origin": origin, **preflight})
        assert "Access-Control-Allow-Origin" not in response.headers


def test_unknown_config_name():
    with pytest.raises(RuntimeError, match="LUFFY_CONFIG"):
        create_app("staging")


def test_embedded_default_needs_nothing_installed(tmp_path, monkeypatch):
    app = create_app("development", {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/x.db"})
    clients = app.extensions["luffy_redis"]
    assert clients["main"] is clients["cart"]
    assert clients["main"].ping()


def test_luffy_database_url_is_the_database(monkeypatch):
    monkeypatch.setenv("LUFFY_DATABASE_URL", "sqlite:////tmp/luffy-from-prefixed.db")
    app = create_app("testing")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/luffy-from-prefixed.db"


@pytest.mark.parametrize("key", ["JWT_PREVIOUS_SECRET_KEYS", "JWT_PUBLIC_KEY_FILES", "CORS_ORIGINS"])
def test_list_settings_refuse_a_bare_string(monkeypatch, key):
    monkeypatch.setenv(f"LUFFY_{key}", "old-secret")
    with pytest.raises(RuntimeError, match="JSON list"):
        create_app("testing")


def test_production_checks_previous_secrets_too(monkeypatch):
    monkeypatch.setenv("SECRET_KEY", STRONG)
    monkeypatch.setenv("LUFFY_JWT_PREVIOUS_SECRET_KEYS", '["short"]')
    with pytest.raises(RuntimeError, match="JWT_PREVIOUS_SECRET_KEYS is shorter"):
        create_app("production", {"SQLALCHEMY_DATABASE_URI": "sqlite://"})


@pytest.mark.slow  # starts Python processes that import luffy
def test_a_gunicorn_worker_does_not_load_the_migration_tools():
    """alembic (through Flask-Migrate) costs a worker 11 MB and serves only ``flask db``."""
    script = (
        "import sys; from luffy import create_app; app = create_app(); "
        "print('migrate' in app.extensions, 'alembic' in sys.modules)"
    )
    env = {**os.environ, "LUFFY_CONFIG": "testing", "SERVER_SOFTWARE": "gunicorn/23.0.0"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    assert out == ["False", "False"]
    env.pop("SERVER_SOFTWARE")
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.split()
    assert out == ["True", "True"]  # the flask command keeps ``flask db``


def test_no_cookie_session_is_kept(client):
    from flask import session

    with client:
        client.get("/healthz")
        assert session.new is False and not session
        with pytest.raises(RuntimeError, match="session is unavailable"):
            session["x"] = 1
    assert "Set-Cookie" not in client.get("/healthz").headers


@pytest.mark.parametrize("pattern", ["^1[3-9", "(?u)^1\\d{10}$", 13800000000])
def test_a_mobile_pattern_that_cannot_be_used_refuses_to_start(pattern):
    with pytest.raises(RuntimeError, match="MOBILE_PATTERN"):
        create_app("testing", {"MOBILE_PATTERN": pattern})
