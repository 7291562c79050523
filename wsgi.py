"""The WSGI entry point: ``gunicorn wsgi:app``."""

from registry import create_app

app = create_app()
