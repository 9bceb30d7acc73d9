"""
The python-socketio server (ASGI, served by uvicorn at ``/socket.io/``).

``BENCH_LAYER=memory`` uses the default in-process client manager; ``redis`` (and ``pubsub``,
the same thing: Socket.IO's Redis manager *is* pub/sub) uses ``socketio.AsyncRedisManager``
on ``REDIS_URL`` with the pub/sub channel ``BENCH_PREFIX``, the Socket.IO way to scale out.
"""

import os

import socketio

LAYER = os.environ.get("BENCH_LAYER", "memory")
if LAYER == "memory":
    manager = None
elif LAYER in ("redis", "pubsub"):
    manager = socketio.AsyncRedisManager(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        channel=os.environ.get("BENCH_PREFIX", "ecbench"),
    )
else:
    raise RuntimeError(f"BENCH_LAYER must be memory, redis or pubsub, not {LAYER!r}")

sio = socketio.AsyncServer(async_mode="asgi", client_manager=manager, cors_allowed_origins=[])


@sio.event
async def echo(sid, data):
    return data


@sio.event
async def join(sid, data):
    await sio.enter_room(sid, data["group"])
    return True


@sio.event
async def broadcast(sid, data):
    # Encoded once by python-socketio for all room members (no callback).
    await sio.emit("msg", {"seq": data["seq"], "text": data["text"]}, to=data["group"])
    return True


application = socketio.ASGIApp(sio)
