"""The WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi``."""

from luffy import create_app

app = create_app()
