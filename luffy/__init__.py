"""luffy: the login service of the course platform. ``create_app`` builds it."""

import os

from flask import Flask
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

import config
from luffy.bodies import JSONProvider, Request

MIGRATIONS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


class NoCookieSession(SessionInterface):
    """luffy keeps no state in Flask's signed cookie session (tokens carry it), so no
    request pays for opening one: ``flask.session`` is Flask's read-only null session."""

    def open_session(self, app, request):
        """None: Flask hands out its null session instead."""
        return None

    def save_session(self, app, session, response):
        """Nothing to save."""


class Luffy(Flask):
    """Flask, with a JSON parser that treats a body nested too deep as malformed, a body
    limit that holds for chunked bodies too, and no cookie session."""

    json_provider_class = JSONProvider
    request_class = Request
    session_interface = NoCookieSession()


def create_app(config_name=None, overrides=None, redis_main=None, redis_cart=None):
    """Build the app from ``config_name`` (or ``LUFFY_CONFIG``) plus ``overrides``.

    Tests may hand in Redis clients of their own (fakeredis, say).
    """
    app = Luffy(__name__, instance_relative_config=True, static_folder=None)
    config.load(app, config_name, overrides)
    os.makedirs(app.instance_path, exist_ok=True)
    register_logging(app)  # first, so that its hooks see every request
    register_extensions(app, redis_main, redis_cart)
    register_middleware(app)
    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    register_hooks(app)
    return app


def register_logging(app):
    """JSON or text logs with the request id; ``X-Request-ID`` on every answer."""
    from luffy.logs import register_logging as register

    register(app)


def register_extensions(app, redis_main=None, redis_cart=None):
    """Bind every extension of ``luffy.extensions`` to ``app``."""
    from luffy.core import passwords, throttle, tokens
    from luffy.extensions import cors, db, jwt, redis_clients
    from luffy.worker import celery_init_app

    db.init_app(app)
    from luffy.legacy import models as _legacy_models  # noqa: F401  (create_all and Alembic see its tables)
    if not config.under_gunicorn():
        # ``flask db`` only: Flask-Migrate imports alembic, 11 MB that a worker never uses.
        from flask_migrate import Migrate

        Migrate(app, db, directory=MIGRATIONS)
    jwt.init_app(app)
    tokens.init_app(app, jwt)
    passwords.init_app(app)
    redis_clients.init_app(app, redis_main, redis_cart)
    throttle.init_app(app)  # on the main Redis
    celery_init_app(app)
    cors.init_app(app, origins=app.config["CORS_ORIGINS"], supports_credentials=True,
                  allow_headers=["Content-Type", "Authorization", "X-CSRF-TOKEN"],
                  expose_headers=["Retry-After"], max_age=600)


def register_middleware(app):
    """Behind ``TRUSTED_PROXIES`` proxies, take the client address they report."""
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)


def register_blueprints(app):
    """Mount the auth, accounts and security API, the operator endpoints, the API docs
    and the login page."""
    from luffy import accounts, auth, openapi, ops, security, web

    app.url_map.strict_slashes = False  # every path answers with and without its slash
    app.register_blueprint(auth.bp, url_prefix="/users")
    app.register_blueprint(accounts.bp, url_prefix="/users")
    app.register_blueprint(security.bp, url_prefix="/users")
    app.register_blueprint(ops.bp)
    app.register_blueprint(openapi.bp)  # /openapi.json and /docs
    app.register_blueprint(web.bp)
    openapi.init_app(app)  # the document of every route above


def register_error_handlers(app):
    """One JSON error shape for every layer."""
    from luffy.errors import register_error_handlers as register

    register(app)


def register_commands(app):
    """``flask users``, ``flask tokens``, ``flask keys`` and ``flask codes``."""
    from luffy.cli import COMMANDS

    for group in COMMANDS:
        app.cli.add_command(group)


# Headers every answer carries, unless its view set its own (the /docs page sets its CSP).
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)
JSON_CSP = ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")


def register_hooks(app):
    """Headers every response carries."""

    @app.after_request
    def security_headers(response):
        # One pass over the headers (a setdefault per header scanned them three times).
        present = {name.lower() for name, _ in response.headers}
        wanted = SECURITY_HEADERS + ((JSON_CSP,) if response.mimetype == "application/json" else ())
        response.headers.extend([(n, v) for n, v in wanted if n.lower() not in present])
        return response
