"""The old backend, built by Django itself: the seed's ``users.User`` (``AbstractUser`` plus
``mobile``, ``money``, ``credit``, ``avatar``, ``nickname``, table ``lf_users``) and
simplejwt's token blacklist, migrated by Django into a database of the tests' own.

Django's settings are process-wide, so one old database serves a test session:
:func:`configure` it once with a SQLAlchemy URL (SQLite, MariaDB or PostgreSQL).
"""

import os

import django
from django.conf import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.backends import DATABASE_URL

SECRET_KEY = "old-backend-django-secret-key-for-tests-only-0123456789"
# Every hasher of Django's default PASSWORD_HASHERS (5.2), the first one signs up.
HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
ALGORITHMS = ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "scrypt"]


def database(url):
    """Django's DATABASES entry for a SQLAlchemy URL."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": url.database}
    if url.get_backend_name() in ("mysql", "mariadb"):
        import pymysql

        pymysql.install_as_MySQLdb()  # Django's MySQL backend on PyMySQL
        engine = "django.db.backends.mysql"
    else:
        engine = "django.db.backends.postgresql"
    return {"ENGINE": engine, "NAME": url.database, "USER": url.username or "",
            "PASSWORD": url.password or "", "HOST": url.host or "", "PORT": url.port or "",
            "OPTIONS": {"charset": "utf8mb4"} if engine.endswith("mysql") else {}}


_configured = []


def configure(url):
    """Configure Django for the old database at ``url`` (the first URL a process
    configures stays) and ``migrate`` it; answer the URL Django uses."""
    from django.core.management import call_command

    # Playwright's sync API (the browser tests, in the same pytest process) keeps an
    # asyncio loop in the main thread, which Django takes for an async context; these
    # calls are plain synchronous ones. Django's documented switch for that case:
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    if not settings.configured:
        _configured.append(url)
        settings.configure(
            DATABASES={"default": database(url)},
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                            "rest_framework_simplejwt.token_blacklist",
                            "tests.legacy_django.users"],
            AUTH_USER_MODEL="users.User",
            SECRET_KEY=SECRET_KEY,
            PASSWORD_HASHERS=HASHERS,
            USE_TZ=True,
            DEFAULT_AUTO_FIELD="django.db.models.AutoField",
            SIMPLE_JWT={"ROTATE_REFRESH_TOKENS": True, "BLACKLIST_AFTER_ROTATION": True},
        )
        django.setup()
    call_command("migrate", verbosity=0)
    return _configured[0]


def flush():
    """Empty every table of the old database."""
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)


def source_url(tmp_path_factory):
    """The old database: ``<name>_src`` beside the tests' own (created when missing), or
    a SQLite file."""
    if DATABASE_URL:
        url = make_url(DATABASE_URL)
        name = f"{url.database}_src"
        _create_database(url, name)
        return url.set(database=name).render_as_string(hide_password=False)
    return f"sqlite:///{tmp_path_factory.mktemp('old')}/old.sqlite3"


def _create_database(url, name):
    """Create the database ``name`` on the server of ``url`` unless it exists."""
    driver = url.set(drivername={"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}[
        url.get_backend_name()])
    engine = create_engine(driver, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if url.get_backend_name() == "postgresql":
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"))
    engine.dispose()
