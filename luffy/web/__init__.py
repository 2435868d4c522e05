"""The browser login page: a static HTML/CSS/JS client of the auth API, served at ``/``."""

from flask import Blueprint

bp = Blueprint("web", __name__, static_folder="static", static_url_path="/static/web")

from luffy.web import routes  # noqa: E402,F401  (registers the views on bp)
