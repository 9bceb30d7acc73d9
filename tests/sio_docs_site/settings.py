"""Settings of the Socket.IO docs' project: EASY_CHANNELS is the page's (see __init__.py)."""

from tests.sio_docs_site import SECRET_KEY, easy_channels_setting

SECRET_KEY = SECRET_KEY
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "easy_channels",
    "tests.sio_docs_site",  # its sockets.py holds the page's consumers
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
EASY_CHANNELS = easy_channels_setting()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"easy_channels": {"level": "INFO"}},
}
