"""The auth blueprint: login, refresh, verify, logout, the profile and password."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from luffy.auth import routes  # noqa: E402,F401  (routes attach themselves to bp)
