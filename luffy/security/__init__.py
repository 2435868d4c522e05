"""The security blueprint (mounted under ``/users``): the account's own security log and
its second factor."""

from flask import Blueprint

bp = Blueprint("security", __name__)

from luffy.security import routes  # noqa: E402,F401  (routes attach themselves to bp)
