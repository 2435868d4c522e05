"""The accounts blueprint: sign-up, SMS login, codes by SMS and email, recovery."""

from flask import Blueprint

bp = Blueprint("accounts", __name__)

from luffy.accounts import routes  # noqa: E402,F401  (routes attach themselves to bp)
