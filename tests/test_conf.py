"""easy_channels.conf: EASY_CHANNELS merged over the defaults into one typed Config."""

from __future__ import annotations

import dataclasses

import pytest

from easy_channels.conf import DEFAULTS, Config, get_config


def test_every_default_is_a_typed_attribute(settings):
    settings.EASY_CHANNELS = {}
    config = get_config()
    assert isinstance(config, Config)
    assert {field.name for field in dataclasses.fields(Config)} == {k.lower() for k in DEFAULTS}
    for key, value in DEFAULTS.items():
        assert getattr(config, key.lower()) == value
        assert config[key] == value  # the settings.py spelling still reads


def test_a_partial_dict_is_merged_and_follows_override_settings(settings):
    settings.EASY_CHANNELS = {"LAYER_TIMEOUT": 1.5, "THROTTLE": {"RATE": "5/s"}, "TYPO": 1}
    config = get_config()
    assert config.layer_timeout == 1.5
    assert config.throttle == {"RATE": "5/s", "BURST": 20, "CLOSE_AFTER": 50}
    assert config.max_pending_messages == DEFAULTS["MAX_PENDING_MESSAGES"]
    with pytest.raises(KeyError):  # unknown keys are only reported (W001), never read
        config["TYPO"]
    settings.EASY_CHANNELS = {"LAYER_TIMEOUT": 2}
    assert get_config().layer_timeout == 2


def test_the_config_is_read_only(settings):
    settings.EASY_CHANNELS = {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        get_config().layer_timeout = 9
