"""The login page at ``/``, with a Content-Security-Policy that forbids anything inline,
and the QR code of a new two-factor secret for its "Security" view."""

import io

import segno
from flask import Response
from marshmallow import fields, validate

from luffy.core.guard import login_required
from luffy.core.schemas import InputSchema
from luffy.markers import answers, body, undocumented
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
SVG_POLICY = "default-src 'none'; frame-ancestors 'none'"


@bp.get("/")
@answers({"type": "string"}, content="text/html", tag="docs")
def index():
    """The login page; it talks to ``/users/*`` with fetch."""
    response = bp.send_static_file("index.html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response


class QrSchema(InputSchema):
    """``POST /web/2fa/qr``: the ``otpauth_uri`` that ``POST /users/2fa/totp`` answered."""

    uri = fields.String(required=True, validate=[
        validate.Length(min=1, max=1024),
        validate.Regexp(r"^otpauth://totp/", error="Not an otpauth://totp/ URI."),
    ])


@bp.post("/web/2fa/qr")
@undocumented  # the page's own picture, not part of the API (the contract stays as written)
@login_required
@body(QrSchema)
def two_factor_qr(body, account):
    """The QR code (SVG, drawn by segno) of a new TOTP secret's ``otpauth://`` URI, for
    the page's two-factor set-up. The page posts the URI it got from
    ``POST /users/2fa/totp``: the secret never goes into an address or a log."""
    del account  # signed in (and CSRF-checked in cookie mode) is all that is asked
    out = io.BytesIO()
    segno.make(body["uri"], error="m").save(out, kind="svg", scale=5, border=2,
                                             title="QR code of the two-factor secret")
    response = Response(out.getvalue(), mimetype="image/svg+xml")
    response.headers["Content-Security-Policy"] = SVG_POLICY
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
