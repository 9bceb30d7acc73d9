"""
The docs' code blocks that are neither run in one namespace (tests/test_readme.py) nor built
into a project (tests/browser/test_tutorial.py): every one is accounted for here, settings
snippets pass the system checks, and every ``py`` snippet compiles (those of the sending page
that need an app around them also run, in tests/test_docs_snippets.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.utils import DOCS, README, code_blocks

PAGES = [README, *sorted(DOCS.rglob("*.rst"))]
PAGES = [page for page in PAGES if "_build" not in page.parts]


def snippets(language: str) -> list[tuple[Path, str]]:
    return [(page, code) for page in PAGES for _, code in code_blocks(page, language)]


def test_every_block_has_a_language_a_test_knows():
    """A new kind of block must be given a test before it can appear in the docs."""
    tested = {
        "python",  # test_readme.py / test_tutorial.py
        "py",  # below
        "javascript",  # browser/test_readme_js.py
        "html+django",  # test_readme_js.py (the include) / test_tutorial.py (the page)
        "console",  # test_tutorial.py (tutorial, how-tos) / the commands below
        "diff",  # test_tutorial.py applies them to startproject's asgi.py
        "text",  # command output, compared by the tests of the command
        "nginx",  # test_nginx_configuration_is_valid (below)
    }
    for page in PAGES:
        for line in page.read_text().splitlines():
            if line.strip().startswith(".. code-block::"):
                language = line.split("::", 1)[1].strip()
                assert language in tested, f"{page.name}: a {language!r} block no test runs"


def _is_settings(code: str) -> bool:
    """Only assignments to UPPERCASE names: a settings.py excerpt."""
    tree = ast.parse(code)
    return all(
        isinstance(node, ast.Assign)
        and all(isinstance(t, ast.Name) and t.id.isupper() for t in node.targets)
        for node in tree.body
    )


@pytest.mark.parametrize(
    "page, code",
    [pytest.param(p, c, id=f"{p.stem}-{i}") for i, (p, c) in enumerate(snippets("py"))],
)
def test_py_snippets_compile_and_settings_pass_the_checks(page, code, settings):
    compile(code, str(page), "exec")
    if not _is_settings(code):
        return
    namespace: dict = {}
    exec(compile(code, str(page), "exec"), namespace)
    if "EASY_CHANNELS" in namespace:
        from easy_channels.checks import check_settings

        value = namespace["EASY_CHANNELS"]
        # Dotted paths to the reader's own modules can't import here; the rest must be clean.
        value = {
            **value,
            "MIDDLEWARE": [
                m for m in value.get("MIDDLEWARE", []) if m.startswith("easy_channels.")
            ],
        }
        settings.EASY_CHANNELS = value
        assert check_settings() == [], code
    if "CHANNEL_LAYERS" in namespace:
        from channels.layers import get_channel_layer

        settings.CHANNEL_LAYERS = namespace["CHANNEL_LAYERS"]
        assert get_channel_layer() is not None
    assert django_settings.configured


def test_markdown_pages_python_compiles_and_javascript_is_run():
    """docs/*.md: Python examples compile; the one JavaScript client runs in Chromium."""
    from tests.utils import fenced_blocks

    for page in sorted(DOCS.glob("*.md")):
        for code in fenced_blocks(page, "python"):
            compile(code, str(page), "exec")
        if page.name != "protocol.md":  # tests/browser/test_readme_js.py runs protocol.md's
            assert fenced_blocks(page, "javascript") == [], page


def test_the_management_command_page_shows_what_the_command_prints(clean_registry, settings):
    """docs/ref/commands.rst's sample output, for the consumer it describes."""
    from io import StringIO

    from django.core.management import call_command

    from easy_channels import JSONWebSocket, SocketMiddleware, register, server_only
    from easy_channels.middleware import Throttle

    settings.EASY_CHANNELS = {}

    class RoomMiddleware(SocketMiddleware):
        pass

    class ChatConsumer(JSONWebSocket):
        middlewares = [Throttle, RoomMiddleware]

        def on_say(self, payload):
            pass

        @server_only
        def on_announce(self, payload):
            pass

    for cls in (RoomMiddleware, ChatConsumer):  # as if written in the page's chat/sockets.py
        cls.__module__, cls.__qualname__ = "chat.sockets", cls.__name__
    register("chat/<str:room>/", name="chat")(ChatConsumer)
    out = StringIO()
    call_command("easy_channels", stdout=out)
    [shown] = [code for _, code in code_blocks(DOCS / "ref" / "commands.rst", "text")]
    lines = out.getvalue().splitlines()
    first = lines.index(shown.splitlines()[0])  # the test apps' routes are listed too
    block = lines[first : first + len(shown.splitlines())]
    assert block == shown.splitlines()
