"""WSGI entry point for gunicorn: `registration.wsgi:app`."""

from crmsync import config as configuration
from crmsync import logs
from registration.app import create_app

settings = configuration.load()
logs.configure(settings)
app = create_app(settings)
