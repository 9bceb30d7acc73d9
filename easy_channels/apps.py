from django.apps import AppConfig


class EasyChannelsConfig(AppConfig):
    name = "easy_channels"
    verbose_name = "Easy Channels"

    def ready(self) -> None:
        from . import checks, recovery_checks, security_checks  # noqa: F401  (the checks)
        from .registry import autodiscover

        autodiscover()
