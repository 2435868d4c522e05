"""Settings of luffy: defaults in classes, overrides from the environment in one place.

``load(app, name)`` applies, in order: the class picked by ``name`` (or
``LUFFY_CONFIG``, else ``production``), the deployment variables ``SECRET_KEY``,
``DATABASE_URL``, ``REDIS_URL`` and ``CART_REDIS_URL``, and every ``LUFFY_<KEY>``
variable (Flask's ``from_prefixed_env``: values are parsed as JSON where they parse).

Whatever server loads the app, an unset ``LUFFY_CONFIG`` means production: the
repository's development secret is used only when development is chosen by name
(``make run`` does).
"""

import os
import re
from datetime import timedelta

DEV_SECRET_KEY = "dev-only-secret-key-change-me-in-production-0123456789"


class Config:
    """Defaults shared by every environment."""

    SECRET_KEY = None  # production refuses to start without one (check_production)
    SQLALCHEMY_DATABASE_URI = "sqlite:///luffy.sqlite3"  # relative to the instance folder
    # hide_parameters: a logged database error must not carry identifiers or hashes.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"hide_parameters": True}
    # Throttle counters and the access-token denylist. None or "memory://": one in-process
    # store per process, which production refuses unless it is named (one process only).
    REDIS_URL = None
    CART_REDIS_URL = None  # the carts; None: REDIS_URL
    REDIS_TIMEOUT = 0.5  # seconds, for connecting and for every command
    DATABASE_CONNECT_TIMEOUT = 2  # seconds

    JWT_ACCESS_TOKEN_EXPIRES = 300
    JWT_REFRESH_TOKEN_EXPIRES = 86400
    JWT_ALGORITHM = "HS256"
    JWT_SECRET_KEY = None  # None: SECRET_KEY
    JWT_PREVIOUS_SECRET_KEYS: list = []
    JWT_PRIVATE_KEY_FILE = None
    JWT_PUBLIC_KEY_FILES: list = []
    # The old Django backend's SECRET_KEY (its simplejwt HS256 key): while set, its tokens
    # (no kid) are honoured for the accounts imported under their ids (README, "Moving
    # from the old backend"). Unset it one refresh lifetime after the switch.
    LEGACY_JWT_SECRET_KEY = None
    JWT_AUDIENCE = None
    JWT_ISSUER = None
    JWT_ENCODE_NBF = False  # nbf would repeat iat: a shorter token decodes faster (luffy/speed.py)
    JWT_ROTATE_REFRESH_TOKENS = False
    JWT_BLACKLIST_AFTER_ROTATION = True
    JWT_TOKEN_LOCATION = ["headers", "cookies"]
    JWT_COOKIE_SECURE = False
    JWT_COOKIE_SAMESITE = "Lax"
    JWT_SESSION_COOKIE = False  # token cookies carry the token's lifetime (auth/responses.py)
    # Only the refresh endpoint reads the refresh cookie (logout gets its own copy).
    JWT_REFRESH_COOKIE_PATH = "/users/login/refresh"

    AUTH_BASIC = True
    AUTH_HEADER_TYPES: list = ["Bearer", "JWT"]  # Authorization schemes of an access token
    LOGIN_RATE_LIMIT = "10 per minute"  # failed password attempts: README, "Throttling"
    TRUSTED_PROXIES = 0  # how many proxies in front of us set X-Forwarded-For
    CORS_ORIGINS: list = []  # exact origins only: scheme://host[:port]
    MAX_CONTENT_LENGTH = 1024 * 1024
    JSON_MAX_DEPTH = 20

    PASSWORD_HASH_MEMORY_COST = 19456  # KiB: OWASP's argon2id minimum
    PASSWORD_HASH_TIME_COST = 2
    PASSWORD_HASH_PARALLELISM = 1
    # A stored Django pbkdf2_sha256 hash above this many iterations is refused like an
    # unknown hash (one argon2id check) instead of being run: Django 5.1 uses 870,000.
    DJANGO_PBKDF2_MAX_ITERATIONS = 1_000_000

    LOG_JSON = False  # one JSON object a line (production) instead of readable text
    LOG_LEVEL = "INFO"  # of the "luffy" loggers: logins and failures; DEBUG adds every request

    # Accounts: sign-up, codes by SMS and email, recovery (luffy/accounts/).
    MOBILE_PATTERN = r"^1[3-9]\d{9}$"  # the old platform's rule (mainland China)
    CODE_TTL = 300  # seconds a code lives
    CODE_RESEND_INTERVAL = 60  # seconds between two sends to one destination
    CODE_DAILY_LIMIT = 10  # sends per client address (so to a destination from it), rolling 24 h
    CODE_DESTINATION_DAILY_LIMIT = 30  # sends per destination from all addresses, rolling 24 h
    CODE_MAX_TRIES = 5  # wrong codes that kill a code
    LOOKUP_RATE_LIMIT = "30 per minute"  # GET /users/mobile/<mobile>, per client address (IPv6: /64)
    PASSWORD_MIN_STRENGTH = 2  # zxcvbn score (0-4) a new password needs
    CELERY_BROKER_URL = None  # redis://... or amqp://...; None: tasks run in-process (not in production)
    CELERY_QUEUE = "luffy"  # the queue the tasks go to and the worker reads
    MESSAGE_MAX_RETRIES = 6  # deliveries retried with exponential backoff (2 s, 4 s ... 60 s)
    MAIL_SERVER = None  # None: emails go to the log (development only)
    MAIL_PORT = 25
    MAIL_USE_TLS = False  # STARTTLS
    MAIL_USE_SSL = False  # SMTP over TLS (port 465)
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_DEFAULT_SENDER = "luffy <no-reply@localhost>"
    MAIL_TIMEOUT = 10  # seconds for the SMTP connection and each command
    SMS_BACKEND = "log"  # log (development only), webhook or twilio
    SMS_WEBHOOK_URL = None
    SMS_TIMEOUT = 10  # seconds for the provider's answer
    SMS_COUNTRY_CODE = "+86"  # prefixed to a mobile without "+" where E.164 is needed (Twilio)
    TWILIO_BASE_URL = "https://api.twilio.com"
    TWILIO_ACCOUNT_SID = None
    TWILIO_AUTH_TOKEN = None
    TWILIO_FROM = None  # a Twilio number (E.164) or a Messaging Service SID (MG...)

    # Security: the security log and two-factor (luffy/security/).
    TOTP_ISSUER = "luffy"  # the name authenticator apps show beside the account
    MFA_TOKEN_EXPIRES = 300  # seconds a login's mfa_token lives
    # A refresh writes its session's last_used_at (and address, user agent) at most this
    # often, in seconds: a refresh in between stays one read. 0: every refresh writes.
    SESSION_TOUCH_INTERVAL = 60
    # A login from a device the account has not used for 90 days is told to its owner
    # (luffy/core/devices.py); the browser's device cookie is named DEVICE_COOKIE_NAME.
    NEW_DEVICE_ALERTS = True
    DEVICE_COOKIE_NAME = "luffy_device"


class DevelopmentConfig(Config):
    """``make run`` on a laptop: SQLite, in-process Redis, readable logs, and the
    repository's secret. Only ever used when chosen by name (``LUFFY_CONFIG=development``)."""

    DEBUG = False
    SECRET_KEY = DEV_SECRET_KEY


class TestingConfig(Config):
    """The test suite: in-memory SQLite unless a test hands in another database."""

    TESTING = True
    SECRET_KEY = "testing-secret-key-0123456789abcdef0123456789abcdef"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    LOGIN_RATE_LIMIT = "1000 per minute"
    PASSWORD_HASH_MEMORY_COST = 1024  # fast tests; the production cost is tested apart
    PASSWORD_HASH_TIME_COST = 1


class ProductionConfig(Config):
    """The default, under any server: refuses a weak secret and a missing Redis, JSON
    logs, secure cookies."""

    JWT_COOKIE_SECURE = True
    LOG_JSON = True


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}

DEPLOYMENT_NAMES = {
    "SECRET_KEY": "SECRET_KEY",
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "REDIS_URL": "REDIS_URL",
    "CART_REDIS_URL": "CART_REDIS_URL",
    "LEGACY_JWT_SECRET_KEY": "LEGACY_JWT_SECRET_KEY",
}

IN_PROCESS_REDIS = "memory://"
IN_PROCESS_BROKERS = ("memory", "cache+memory")  # kombu transports that never leave the process
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
ORIGIN = re.compile(
    rf"https?://{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?",
    re.ASCII | re.IGNORECASE)

SECONDS = ("JWT_ACCESS_TOKEN_EXPIRES", "JWT_REFRESH_TOKEN_EXPIRES", "SESSION_TOUCH_INTERVAL")
LISTS = ("JWT_PREVIOUS_SECRET_KEYS", "JWT_PUBLIC_KEY_FILES", "CORS_ORIGINS", "AUTH_HEADER_TYPES")


def load(app, name=None, overrides=None):
    """Fill ``app.config`` from the class ``name``, the environment and ``overrides``."""
    name = name or os.environ.get("LUFFY_CONFIG") or "production"
    if name not in CONFIGS:
        raise RuntimeError(f"LUFFY_CONFIG must be one of {sorted(CONFIGS)}, not {name!r}")
    app.config.from_object(CONFIGS[name])
    app.config["ENV_NAME"] = name
    for env_name, key in DEPLOYMENT_NAMES.items():
        if os.environ.get(env_name):
            app.config[key] = os.environ[env_name]
    app.config.from_prefixed_env("LUFFY")
    if "DATABASE_URL" in app.config:  # LUFFY_DATABASE_URL, by its deployment name
        app.config["SQLALCHEMY_DATABASE_URI"] = app.config.pop("DATABASE_URL")
    if overrides:
        app.config.update(overrides)
    _derive(app.config)
    if name == "production":
        check_production(app.config)
    if app.config["REDIS_URL"] == IN_PROCESS_REDIS:
        app.config["REDIS_URL"] = None  # named on purpose: the in-process store


def under_gunicorn():
    """Whether this process is a gunicorn server (its arbiter sets SERVER_SOFTWARE)."""
    return os.environ.get("SERVER_SOFTWARE", "").startswith("gunicorn/")


def _derive(config):
    """Settings computed from others, and names the libraries expect."""
    for key in LISTS:
        # A bare string would be taken apart letter by letter: one-letter HMAC keys.
        if not isinstance(config[key], (list, tuple)):
            raise RuntimeError(f"{key} must be a JSON list, e.g. LUFFY_{key}='[\"...\"]'")
    config["CORS_ORIGINS"] = [exact_origin(origin) for origin in config["CORS_ORIGINS"]]
    try:  # matched with re.ASCII wherever a mobile is taken (luffy/auth/schemas.is_mobile)
        re.compile(config["MOBILE_PATTERN"], re.ASCII)
    except (re.error, ValueError, TypeError) as e:  # ValueError: (?u), which re.ASCII refuses
        raise RuntimeError(f"MOBILE_PATTERN is not a regular expression luffy can use: {e}") from None
    for key in SECONDS:
        if isinstance(config[key], (int, float)):
            config[key] = timedelta(seconds=config[key])
    config.setdefault("JWT_SECRET_KEY", None)
    if not config["JWT_SECRET_KEY"]:
        config["JWT_SECRET_KEY"] = config["SECRET_KEY"]
    if config["LEGACY_JWT_SECRET_KEY"] is not None:  # a key that parsed as JSON is still its text
        config["LEGACY_JWT_SECRET_KEY"] = str(config["LEGACY_JWT_SECRET_KEY"]) or None
    config["JWT_IDENTITY_CLAIM"] = "user_id"
    config["JWT_ENCODE_AUDIENCE"] = config["JWT_DECODE_AUDIENCE"] = config["JWT_AUDIENCE"]
    config["JWT_ENCODE_ISSUER"] = config["JWT_DECODE_ISSUER"] = config["JWT_ISSUER"]
    config["JWT_DECODE_ALGORITHMS"] = [config["JWT_ALGORITHM"]]
    uri = config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("postgres://"):  # Heroku-style URLs
        uri = config["SQLALCHEMY_DATABASE_URI"] = "postgresql://" + uri[len("postgres://"):]
    for prefix, driver in (("postgresql://", "postgresql+psycopg://"), ("mysql://", "mysql+pymysql://")):
        if uri.startswith(prefix):
            uri = config["SQLALCHEMY_DATABASE_URI"] = driver + uri[len(prefix):]
    config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        # PostgreSQL's pooled connections are checked without a round trip (luffy.extensions).
        "pool_pre_ping": not uri.startswith("postgresql+psycopg"),
        **config["SQLALCHEMY_ENGINE_OPTIONS"],
        **_connect_timeout(uri, config["DATABASE_CONNECT_TIMEOUT"]),
    }


def _connect_timeout(uri, seconds):
    """Driver options that make an unreachable database fail fast instead of hanging."""
    if uri.startswith("postgresql+psycopg"):
        return {"connect_args": {"connect_timeout": seconds}}
    if uri.startswith("mysql+pymysql"):
        # PyMySQL waits for the server's greeting as long as read_timeout: the handshake
        # gets the connect timeout, and luffy.database gives queries 10 s once connected.
        return {"connect_args": {"connect_timeout": seconds, "read_timeout": seconds,
                                 "write_timeout": seconds}}
    return {}


def exact_origin(origin):
    """``origin`` in lower case if it is one exact ``scheme://host[:port]``, else RuntimeError.

    Credentials are allowed cross-origin, so no wildcard or pattern may stand here:
    flask-cors takes any string holding ``*``, ``?``, ``(`` ... as a regular expression
    and matches it at the start only (``https://.*\\.example\\.com`` admits
    ``https://a.example.com.evil.io``). That includes an IPv6 literal's brackets, so a
    host is a name or an IPv4 address.
    """
    if not isinstance(origin, str) or not ORIGIN.fullmatch(origin):
        raise RuntimeError(
            f"CORS_ORIGINS entry {origin!r} is not an exact origin: list each one as "
            "scheme://host[:port] (http or https, a host name or IPv4 address, no path, "
            "no wildcard or pattern)")
    return origin.lower()


def check_production(config):
    """Refuse to serve with a missing, short or well-known secret key, or without a
    shared Redis."""
    secrets = [("SECRET_KEY", config.get("SECRET_KEY"))]
    if config["JWT_ALGORITHM"].startswith("HS"):
        secrets.append(("JWT_SECRET_KEY", config.get("JWT_SECRET_KEY")))
        secrets += [("JWT_PREVIOUS_SECRET_KEYS", s) for s in config["JWT_PREVIOUS_SECRET_KEYS"]]
    for key, secret in secrets:
        if not secret:
            raise RuntimeError(f"{key} is not set: production needs a secret of at least 32 bytes")
        if secret in (DEV_SECRET_KEY, TestingConfig.SECRET_KEY):
            raise RuntimeError(f"{key} is the development default: set a secret of your own")
        if len(str(secret).encode()) < 32:
            raise RuntimeError(f"{key} is shorter than 32 bytes")
    if not config.get("REDIS_URL"):
        raise RuntimeError(
            "REDIS_URL is not set: production needs a Redis shared by every worker and "
            f"instance (logouts and throttling); set REDIS_URL={IN_PROCESS_REDIS} to run "
            "one single process on an in-process store")
    check_production_messages(config)


def check_production_messages(config):
    """Refuse the development-only message backends, and a start without a broker."""
    if not config.get("MAIL_SERVER"):
        raise RuntimeError("MAIL_SERVER is not set: production sends email over SMTP, not to the log")
    backend = config.get("SMS_BACKEND")
    if backend == "log":
        raise RuntimeError("SMS_BACKEND is log: production needs webhook or twilio")
    needed = {"webhook": ("SMS_WEBHOOK_URL",),
              "twilio": ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM")}
    if backend not in needed:
        raise RuntimeError(f"SMS_BACKEND must be one of log, webhook, twilio, not {backend!r}")
    for key in needed[backend]:
        if not config.get(key):
            raise RuntimeError(f"SMS_BACKEND is {backend} but {key} is not set")
    broker = config.get("CELERY_BROKER_URL") or ""
    if not broker:
        # Sent in-process, a message makes its request wait for the provider, and that
        # wait tells whether the destination has an account.
        raise RuntimeError("CELERY_BROKER_URL is not set: production hands messages to a broker "
                           "(redis://... or amqp://...) and a worker (celery -A wsgi:celery worker)")
    if broker.split("://", 1)[0] in IN_PROCESS_BROKERS:
        raise RuntimeError(f"CELERY_BROKER_URL is {broker!r}, a broker inside this process that no "
                           "worker reads: production needs Redis or RabbitMQ")
