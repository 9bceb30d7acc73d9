from django.apps import AppConfig


class EasyChannelsConfig(AppConfig):
    name = "easy_channels"
    verbose_name = "Easy Channels"

    def ready(self) -> None:
        from . import conf  # noqa: F401  (registers the setting_changed receiver)
