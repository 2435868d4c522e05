"""The WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``; the Celery
worker's too: ``celery -A wsgi:celery worker``."""

from luffy import create_app

app = create_app()
celery = app.extensions["celery"]
