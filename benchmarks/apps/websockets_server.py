"""
The ceiling: a bare ``websockets`` server with the same three events and nothing else (no
framework, no channel layer: groups are sets in this process, fan-out is
``websockets.broadcast``). Run as ``python -m benchmarks.apps.websockets_server --port N``.

It runs on uvloop when installed, like uvicorn does, and parses every frame as JSON like the
others: the gap between it and a framework is the framework's cost.
"""

import argparse
import asyncio
import json

from websockets.asyncio.server import broadcast, serve

groups: dict[str, set] = {}


async def handler(ws):
    joined: list[str] = []
    try:
        async for text in ws:
            frame = json.loads(text)
            event = frame.pop("event", None)
            ack = frame.pop("ack", None)
            if event == "echo":
                data = frame
            elif event == "join":
                groups.setdefault(frame["group"], set()).add(ws)
                joined.append(frame["group"])
                data = True
            elif event == "broadcast":
                text = json.dumps(
                    {"event": "msg", "seq": frame["seq"], "text": frame["text"]},
                    separators=(",", ":"),
                )
                broadcast(groups.get(frame["group"], ()), text)
                data = True
            else:
                continue
            if ack is not None:
                await ws.send(json.dumps({"event": "ack", "ack": ack, "data": data}))
    finally:
        for group in joined:
            members = groups.get(group)
            if members is not None:
                members.discard(ws)
                if not members:
                    del groups[group]


async def main(port: int) -> None:
    async with serve(
        handler, "127.0.0.1", port, compression=None, ping_interval=20, max_size=1 << 20
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    try:
        import uvloop

        uvloop.run(main(port))
    except ImportError:
        asyncio.run(main(port))
    except KeyboardInterrupt:
        pass
