"""Request bodies: JSON objects or forms in, validated by a marshmallow schema.

Anything else is answered with the contract's errors: a body that does not parse is
``parse_error``, one that is neither JSON nor a form is 415, and marshmallow's own
errors (wrong types, a JSON value that is not an object) are ``invalid``.
"""

from flask import request
from flask.json.provider import DefaultJSONProvider

from luffy.errors import APIError

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


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
