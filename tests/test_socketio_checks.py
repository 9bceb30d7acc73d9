"""System checks of Socket.IO: E012 (the SOCKETIO setting) and E013 (the namespaces)."""

from __future__ import annotations

import pytest
from django.core.checks import Error

from easy_channels import JSONWebSocket, register
from easy_channels.conf import DEFAULTS
from easy_channels.socketio_checks import check_namespaces, check_socketio

VALID_KEYS = "Valid keys: CONNECT_TIMEOUT, MAX_PAYLOAD, PATH, PING_INTERVAL, PING_TIMEOUT."
PATH_HINT = (
    "Set it to the clients' path option without its leading slash, like 'socket.io/' for the "
    "clients' default '/socket.io/'."
)
NAMESPACE_HINT = (
    'Keys of EASY_CHANNELS["SOCKETS"] that start with "/" are Socket.IO namespaces, mapped to '
    'dotted paths of JSONWebSocket subclasses, like {"/chat": "chat.sockets.ChatConsumer"}.'
)


def e012(msg: str, hint: str) -> Error:
    return Error(msg, hint=hint, id="easy_channels.E012")


def test_the_defaults_and_the_test_project_are_clean(settings):
    assert check_socketio() == [] and check_namespaces() == []
    settings.EASY_CHANNELS = {"SOCKETIO": dict(DEFAULTS["SOCKETIO"])}
    assert check_socketio() == []
    smallest = {"PING_INTERVAL": 0.001, "PING_TIMEOUT": 0.001, "CONNECT_TIMEOUT": 0.5}
    settings.EASY_CHANNELS = {"SOCKETIO": {"PATH": "realtime/io/", "MAX_PAYLOAD": 1, **smallest}}
    assert check_socketio() == []


def test_no_setting_or_no_dict_of_settings_is_not_ours(settings):
    settings.EASY_CHANNELS = ["SOCKETIO"]  # E001's
    assert check_socketio() == [] and check_namespaces() == []
    del settings.EASY_CHANNELS
    assert check_socketio() == [] and check_namespaces() == []


@pytest.mark.parametrize("value", ["socket.io/", ["PATH"], None])
def test_e012_not_a_dict(settings, value):
    settings.EASY_CHANNELS = {"SOCKETIO": value}
    assert check_socketio() == [
        e012(
            f"EASY_CHANNELS['SOCKETIO'] is {value!r}; it must be a dict.",
            "Write EASY_CHANNELS['SOCKETIO'] as a dict of the keys you change, like "
            '{"PING_INTERVAL": 25}, or remove it to use the defaults.',
        )
    ]


def test_e012_unknown_keys(settings):
    settings.EASY_CHANNELS = {"SOCKETIO": {"PING_INTERVALL": 5, "CORS": "*", 1: 2}}
    assert check_socketio() == [
        e012(f"EASY_CHANNELS['SOCKETIO'] has an unknown key {key!r}.", VALID_KEYS)
        for key in ("CORS", "PING_INTERVALL", 1)  # sorted by repr: a key may be no string
    ]


@pytest.mark.parametrize("path", ["", "/", "/socket.io/", "socket.io", "//", 5, None])
def test_e012_path(settings, path):
    settings.EASY_CHANNELS = {"SOCKETIO": {"PATH": path}}
    assert check_socketio() == [
        e012(
            f"EASY_CHANNELS['SOCKETIO']['PATH'] is {path!r}; it must be a path without a "
            "leading '/' and with a trailing one.",
            PATH_HINT,
        )
    ]


@pytest.mark.parametrize(
    ("key", "must", "hint"),
    [
        ("PING_INTERVAL", "at least 0.001", "the seconds between the server's pings, like 25"),
        ("PING_TIMEOUT", "at least 0.001", "the seconds a client has to answer a ping, like 20"),
        ("CONNECT_TIMEOUT", "positive",
         "the seconds a connection has to join a namespace, like 45"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("value", [0, -1, 0.0001, True, "25", None, float("inf"), float("nan")])
def test_e012_seconds(settings, key, must, hint, value):
    if key == "CONNECT_TIMEOUT" and value == 0.0001:
        value = -0.5  # any positive number is a valid CONNECT_TIMEOUT
    settings.EASY_CHANNELS = {"SOCKETIO": {key: value}}
    assert check_socketio() == [
        e012(
            f"EASY_CHANNELS['SOCKETIO'][{key!r}] is {value!r}; it must be a {must} number of "
            "seconds.",
            f"Set it to {hint}.",
        )
    ]


@pytest.mark.parametrize("value", [0, -5, 1.5, True, "1000000", None])
def test_e012_max_payload(settings, value):
    settings.EASY_CHANNELS = {"SOCKETIO": {"MAX_PAYLOAD": value}}
    assert check_socketio() == [
        e012(
            f"EASY_CHANNELS['SOCKETIO']['MAX_PAYLOAD'] is {value!r}; it must be a positive "
            "integer.",
            "Set it to the bytes a WebSocket frame or a polling request may carry, like 1000000.",
        )
    ]


def test_e012_every_problem_at_once(settings):
    settings.EASY_CHANNELS = {
        "SOCKETIO": {"PATH": "/io", "PING_TIMEOUT": 0, "MAX_PAYLOAD": 0, "X": 1}
    }
    assert [m.msg.split(";")[0] for m in check_socketio()] == [
        "EASY_CHANNELS['SOCKETIO'] has an unknown key 'X'.",
        "EASY_CHANNELS['SOCKETIO']['PATH'] is '/io'",
        "EASY_CHANNELS['SOCKETIO']['PING_TIMEOUT'] is 0",
        "EASY_CHANNELS['SOCKETIO']['MAX_PAYLOAD'] is 0",
    ]


def test_e012_runs_with_manage_py_check(settings):
    from django.core.checks import run_checks

    settings.EASY_CHANNELS = {"SOCKETIO": {"PING_INTERVAL": 0}}
    assert [m.id for m in run_checks() if m.id.startswith("easy_channels.E")] == [
        "easy_channels.E012"
    ]


def test_namespaces_of_sockets_and_register_are_clean(settings, clean_registry):
    @register(namespace="/elsewhere")
    class Here(JSONWebSocket):
        pass

    settings.EASY_CHANNELS = {
        "SOCKETS": {"/": "tests.elsewhere.ElsewhereConsumer", "x/": "tests.elsewhere.Nope"}
    }
    assert check_namespaces() == []  # "x/" is a route: E006 reports it


@pytest.mark.parametrize(
    ("sockets", "message"),
    [
        (
            {"/chat": "tests.nope.Chat"},
            "Could not import 'tests.nope.Chat' for EASY_CHANNELS['SOCKETS']: No module named "
            "'tests.nope'.",
        ),
        (
            {"/chat room": "tests.elsewhere.ElsewhereConsumer"},
            "EASY_CHANNELS['SOCKETS']: a Socket.IO namespace is '/' or '/' followed by letters, "
            "digits and -_./ (like '/chat'), not '/chat room'.",
        ),
    ],
)
def test_e013_a_namespace_that_is_invalid_or_does_not_import(settings, sockets, message):
    settings.EASY_CHANNELS = {"SOCKETS": sockets}
    assert check_namespaces() == [Error(message, hint=NAMESPACE_HINT, id="easy_channels.E013")]


def test_e013_a_namespace_whose_class_is_no_consumer(settings):
    settings.EASY_CHANNELS = {"SOCKETS": {"/": "tests.elsewhere"}}
    [problem] = check_namespaces()
    assert problem.id == "easy_channels.E013" and "tests.elsewhere" in problem.msg
    assert problem.hint == NAMESPACE_HINT


def test_e013_two_consumers_on_one_namespace(settings, clean_registry):
    @register(namespace="/")
    class Main(JSONWebSocket):
        pass

    settings.EASY_CHANNELS = {"SOCKETS": {"/": "tests.elsewhere.ElsewhereConsumer"}}
    assert check_namespaces() == [
        Error(
            "Two consumers on the Socket.IO namespace '/': tests.test_socketio_checks."
            "test_e013_two_consumers_on_one_namespace.<locals>.Main (@register) and "
            "tests.elsewhere.ElsewhereConsumer (EASY_CHANNELS['SOCKETS']).",
            hint="Serve a namespace from one consumer: remove it from EASY_CHANNELS['SOCKETS'] "
            "or from the @register(namespace=...) of the other.",
            id="easy_channels.E013",
        )
    ]


def test_e013_leaves_a_sockets_setting_of_the_wrong_type_to_e002(settings):
    settings.EASY_CHANNELS = {"SOCKETS": {"/": 1}}
    assert check_namespaces() == []
    settings.EASY_CHANNELS = {"SOCKETS": ["/"]}
    assert check_namespaces() == []


def test_the_settings_pages_example_passes(settings):
    from tests.utils import DOCS, code_blocks

    [example] = [c for _, c in code_blocks(DOCS / "ref" / "settings.rst", "py") if "SOCKETIO" in c]
    namespace: dict = {}
    exec(example, namespace)
    settings.EASY_CHANNELS = namespace["EASY_CHANNELS"]
    assert check_socketio() == []
