"""Tokens of the old backend, minted by djangorestframework-simplejwt itself.

Django is configured once per process, so the tokens are minted in a child process
(``python -m tests.simplejwt_tokens``) with the old backend's settings: its
``SECRET_KEY`` signs (HS256) and its ``SIMPLE_JWT`` sets the lifetimes, as the seed's
settings do (access 5 minutes, refresh 1 day). The user is Django's own ``User`` with
the id given; simplejwt writes that id as it does (a decimal string, in 5.5).
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OLD_SECRET_KEY = "django-insecure-the-old-backends-secret-key-0123456789"


def mint(*user_ids, secret_key=OLD_SECRET_KEY):
    """``[{"refresh", "access"}]``, one pair per id: ``RefreshToken.for_user(user)`` and its
    ``access_token``, as the old backend's login answered them."""
    done = subprocess.run([sys.executable, "-m", "tests.simplejwt_tokens", secret_key,
                           *map(str, user_ids)], cwd=ROOT, check=True, capture_output=True,
                          text=True)
    return json.loads(done.stdout)


def _main(secret_key, *user_ids):
    from datetime import timedelta

    import django
    from django.conf import settings

    settings.configure(
        SECRET_KEY=secret_key, USE_TZ=True, DATABASES={},
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                        "rest_framework_simplejwt"],
        SIMPLE_JWT={"ACCESS_TOKEN_LIFETIME": timedelta(minutes=5),
                    "REFRESH_TOKEN_LIFETIME": timedelta(days=1)})
    django.setup()
    from django.contrib.auth.models import User
    from rest_framework_simplejwt.tokens import RefreshToken

    pairs = []
    for user_id in user_ids:
        refresh = RefreshToken.for_user(User(id=int(user_id), username=f"old{user_id}"))
        pairs.append({"refresh": str(refresh), "access": str(refresh.access_token)})
    print(json.dumps(pairs))


if __name__ == "__main__":
    _main(*sys.argv[1:])
