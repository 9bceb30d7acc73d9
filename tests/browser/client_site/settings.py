"""Settings of the browser-client test site (served by uvicorn in a subprocess)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent

SECRET_KEY = "easy-channels-client-site"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",  # for README.rst's examples (see readme.py)
    "django.contrib.staticfiles",
    "channels",
    "easy_channels",
]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "tests.browser.client_site.urls"
ASGI_APPLICATION = "tests.browser.client_site.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"builtins": ["django.templatetags.static"]},
    }
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
EASY_CHANNELS: dict = {}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    # Warnings and tracebacks go to the server log (Server.output()).
    "loggers": {"easy_channels": {"handlers": ["stderr"], "level": "WARNING"}},
}
