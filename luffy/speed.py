"""The speed tricks of luffy, in one place: what each saves is in bench/PROFILE.md.

- Flask-Limiter resolves every limit of the app on each request; its check runs only
  for views that declare a limit with :func:`rate_limited`.
"""

from flask import current_app, request

from luffy.extensions import limiter

RATE_LIMITED = "luffy_rate_limited"


def rate_limited(*args, **kwargs):
    """``limiter.limit(*args, **kwargs)``, marking the view so that the limiter checks it."""
    limit = limiter.limit(*args, **kwargs)

    def decorate(view):
        limited = limit(view)
        setattr(limited, RATE_LIMITED, True)
        return limited

    return decorate


@limiter.request_filter
def no_declared_limit():
    """Spare the limiter's per-request work on views that declare no limit."""
    view = current_app.view_functions.get(request.endpoint)
    return not getattr(view, RATE_LIMITED, False)
