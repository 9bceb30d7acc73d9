"""tests.settings in development with daphne after django.contrib.staticfiles (daphne.E001)."""

from tests.settings import *  # noqa: F403

DEBUG = True
INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.staticfiles", "daphne"]  # noqa: F405
STATIC_URL = "static/"
