"""Request bodies: JSON objects or forms in, validated by a marshmallow schema.

Anything else is answered with the contract's errors: a body that does not parse is
``parse_error``, one that is neither JSON nor a form is 415, and marshmallow's own
errors (wrong types, a JSON value that is not an object) are ``invalid``.
"""

from flask import Request as FlaskRequest
from flask import request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import cached_property
from werkzeug.wsgi import LimitedStream

from luffy.errors import APIError

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class Request(FlaskRequest):
    """Flask's request, with ``MAX_CONTENT_LENGTH`` enforced on a chunked body too.

    Werkzeug stops reading a body without ``Content-Length`` at the limit and hands
    back what it read, so an oversized chunked body was parsed truncated (a 400, or a
    form missing its last fields) instead of being refused with a 413.
    """

    @cached_property
    def stream(self):
        """The body; a streamed one (no ``Content-Length``, ended by the server) over
        ``max_content_length`` raises 413 while it is read, wherever it is read first."""
        limit = self.max_content_length
        if (self.content_length is None and limit is not None and not self.shallow
                and "wsgi.input_terminated" in self.environ):
            return _StreamedBody(self.environ["wsgi.input"], limit)
        return super().stream


class _StreamedBody(LimitedStream):
    """Reads one byte past ``limit``: having read it means the body is too large."""

    def __init__(self, stream, limit):
        super().__init__(stream, limit + 1, is_max=True)

    def readinto(self, b):
        size = super().readinto(b)
        if self.is_exhausted:
            raise RequestEntityTooLarge()
        return size


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, with a body nested too deep or holding what is not text treated as malformed."""

    def loads(self, s, **kwargs):
        """Parse ``s``; deep nesting or a lone surrogate raises ``ValueError`` like any other bad JSON."""
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        _check_parsed(value, self._app.config.get("JSON_MAX_DEPTH", 20))
        return value


def _check_parsed(value, depth):
    """Raise ``ValueError`` past ``depth`` nested containers or at a lone surrogate.

    ``"\\ud800"`` is valid JSON but no text: no database, hash or encoder takes it.
    """
    if isinstance(value, str):
        value.encode()  # UnicodeEncodeError is a ValueError
    elif isinstance(value, (dict, list)):
        if depth <= 0:
            raise ValueError("JSON nested too deeply")
        for item in (value if isinstance(value, list) else (*value.keys(), *value.values())):
            _check_parsed(item, depth - 1)


def raw_body():
    """The body as a dict (JSON object or form), or the JSON value it holds."""
    if request.is_json:
        data = request.get_json(silent=True)
        if data is None and request.get_data(cache=True).strip() != b"null":
            raise APIError.parse_error("JSON parse error.")
        return data
    if request.mimetype in FORM_TYPES:
        return request.form.to_dict()
    if not request.get_data(cache=True) and not request.mimetype:
        return {}
    raise APIError.unsupported_media_type()


def load_body(schema):
    """Validate the body with ``schema``; a failure raises marshmallow's error."""
    return schema.load(raw_body())
