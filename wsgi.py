"""The WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``; the Celery
worker's too: ``celery -A wsgi:celery worker``."""

from luffy import create_app

app = create_app()


def __getattr__(name):
    """``wsgi.celery``, the Celery app, built when the worker asks for it: a gunicorn
    worker never imports Celery unless it queues a message (luffy/speed.py)."""
    if name == "celery":
        from luffy.worker import celery_of

        return celery_of(app)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
