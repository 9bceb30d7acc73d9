"""
The project that runs docs/topics/socketio.rst's examples for real (tests/test_socketio_docs.py).

Nothing here restates them: ``settings.py`` takes the page's ``EASY_CHANNELS`` blocks,
``sockets.py`` (found by autodiscovery, as a project's would be) runs its ``chat/sockets.py``
blocks, and ``asgi.py`` is the page's ``mysite/asgi.py``. ``client/`` pins the
``socket.io-client`` its JavaScript runs with in Node.js.
"""

from __future__ import annotations

from tests.utils import DOCS, code_blocks

PAGE = DOCS / "topics" / "socketio.rst"
#: The site's SECRET_KEY, with which the tests sign the tokens of the page's Chat consumer.
SECRET_KEY = "easy-channels-socketio-docs"
#: Where the page's consumers live, and where they live here.
DOCS_MODULE, SITE_MODULE = "chat.sockets", "tests.sio_docs_site.sockets"


def blocks(language: str, caption: str | None = None) -> list[str]:
    """The page's ``language`` blocks with that caption (all of them for ``caption=None``)."""
    return [
        code for shown, code in code_blocks(PAGE, language) if caption is None or shown == caption
    ]


def settings_blocks() -> list[str]:
    """The page's settings.py excerpts (``EASY_CHANNELS = {...}``)."""
    return [code for code in blocks("py") if code.startswith("EASY_CHANNELS = ")]


def easy_channels_setting() -> dict:
    """The page's ``EASY_CHANNELS`` blocks merged, its dotted paths pointing at this site."""
    merged: dict = {}
    for code in settings_blocks():
        namespace: dict = {}
        exec(compile(code, str(PAGE), "exec"), namespace)
        merged.update(namespace["EASY_CHANNELS"])
    sockets = merged.get("SOCKETS", {})
    merged["SOCKETS"] = {
        key: dotted.replace(DOCS_MODULE + ".", SITE_MODULE + ".") for key, dotted in sockets.items()
    }
    return merged
