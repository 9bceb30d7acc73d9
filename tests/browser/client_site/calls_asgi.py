"""
The browser test site with a scripted WebSocket server in place of the consumers, for the
client's answers to server calls (tests/browser/test_client_calls.py). It speaks the wire
format of docs/protocol.md by hand, so the client is tested against the frames themselves.

- Any WebSocket path ``/ws/.../<key>/``: the server sends whatever texts the client asks for
  with ``{"event": "push", "texts": [...]}``, closes with ``{"event": "close_me", "code": c}``,
  answers ``_ping``, and records every other frame the client sends, as
  ``[connection number, text]`` (1 for the first connection of the key).
- ``GET /received/<key>/``: those records, as JSON.
- ``POST /preview/``: the body as an HTML paragraph, 400 when empty (for the example of
  docs/topics/client.rst).
- Anything else: the pages and static files of the client site (``client.html`` at ``/``).
"""

import html
import json
import os
from collections import defaultdict

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.browser.client_site.settings")
django_asgi_app = get_asgi_application()

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

pages = ASGIStaticFilesHandler(django_asgi_app)

#: key -> [[connection number, text], ...] of the frames the clients sent (not the commands).
RECEIVED: defaultdict[str, list] = defaultdict(list)
CONNECTS: defaultdict[str, int] = defaultdict(int)


async def application(scope, receive, send):
    if scope["type"] == "websocket":
        await scripted_socket(scope, receive, send)
    elif scope["type"] == "http" and scope["path"].startswith("/received/"):
        key = scope["path"].rstrip("/").rsplit("/", 1)[-1]
        await respond(send, 200, json.dumps(RECEIVED[key]).encode(), b"application/json")
    elif scope["type"] == "http" and scope["path"] == "/preview/":
        body = await read_body(receive)
        if not body:
            await respond(send, 400, b"Nothing to preview.", b"text/plain")
        else:
            paragraph = f"<p>{html.escape(body.decode())}</p>".encode()
            await respond(send, 200, paragraph, b"text/html; charset=utf-8")
    else:
        await pages(scope, receive, send)


async def scripted_socket(scope, receive, send):
    key = scope["path"].rstrip("/").rsplit("/", 1)[-1]
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    CONNECTS[key] += 1
    connection = CONNECTS[key]
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        frame = json.loads(text)
        event = frame.get("event")
        if event == "_ping":
            await send({"type": "websocket.send", "text": '{"event":"_pong"}'})
        elif event == "push":
            for pushed in frame["texts"]:
                await send({"type": "websocket.send", "text": pushed})
        elif event == "close_me":
            await send({"type": "websocket.close", "code": frame["code"]})
            return
        else:
            RECEIVED[key].append([connection, text])


async def read_body(receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def respond(send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type)]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
