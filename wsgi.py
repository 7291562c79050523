"""The WSGI entry point: ``gunicorn wsgi:app``."""

from registry.server import serving_app

app = serving_app()
