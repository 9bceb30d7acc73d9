"""Settings of the test project."""

SECRET_KEY = "easy-channels-tests"
DEBUG = False
USE_TZ = True
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "easy_channels",
    "tests.testapp",
    "tests.otherapp",
    "tests.orders",  # the model of the docs' view example (tests/test_docs_snippets.py)
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
EASY_CHANNELS: dict[str, object] = {"SOCKETS": {"elsewhere/": "tests.elsewhere.ElsewhereConsumer"}}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"easy_channels": {"level": "DEBUG"}},
}
