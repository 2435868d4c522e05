"""The login page at ``/``, with a Content-Security-Policy that forbids anything inline."""

from luffy.markers import answers
from luffy.web import bp

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: https: http:",  # avatars live on other hosts
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
))


@bp.get("/")
@answers({"type": "string"}, content="text/html", tag="docs")
def index():
    """The login page; it talks to ``/users/*`` with fetch."""
    response = bp.send_static_file("index.html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response
