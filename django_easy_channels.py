"""The original README's import path: ``from django_easy_channels import JSONWebSocket``."""

from easy_channels import *  # noqa: F403
from easy_channels import __all__, __version__  # noqa: F401
