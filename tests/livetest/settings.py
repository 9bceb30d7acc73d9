"""
A project as Channels' tutorial (part 4) sets one up for browser tests: daphne's live server,
ASGI_APPLICATION behind AllowedHostsOriginValidator, ALLOWED_HOSTS left to the test case.
"""

import os

SECRET_KEY = "easy-channels-livetest"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS: list[str] = []
INSTALLED_APPS = [
    "daphne",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "channels",
    "easy_channels",
]
ROOT_URLCONF = "tests.livetest.urls"
# ChannelsLiveServerTestCase refuses in-memory databases; tests/browser/test_live_server.py
# gives a file in a temporary directory.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("LIVETEST_DB", "livetest.sqlite3"),
        "TEST": {"NAME": os.environ.get("LIVETEST_DB", "livetest.sqlite3") + ".test"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ASGI_APPLICATION = "tests.livetest.asgi.application"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
EASY_CHANNELS = {"SOCKETS": {"echo/": "tests.servers.consumers.Echo"}}
TEMPLATES: list[dict[str, object]] = []
