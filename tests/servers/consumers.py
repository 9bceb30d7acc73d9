import asyncio

from easy_channels import JSONWebSocket, Reject


class Echo(JSONWebSocket):
    def on_echo(self, payload):
        return payload

    async def on_boom(self):
        raise RuntimeError("secret")


class CrashAfterAccept(JSONWebSocket):
    async def on_connect(self):
        await self.accept()
        raise RuntimeError("crash in on_connect")


class Rejecting(JSONWebSocket):
    def on_connect(self):
        raise Reject(4401, "Log in first.")


class Chat(JSONWebSocket):
    groups = ["chat"]

    def on_connect(self):
        self.name = self.scope["url_route"]["kwargs"]["name"]

    def on_say(self, payload):
        self.group_send("chat", "said", {"from": self.name, "text": payload["text"]})


class Flood(JSONWebSocket):
    """Sends what a client asks for, as fast as the transport takes it (issue: frozen server)."""

    groups = ["flood"]

    async def on_flood(self, payload):
        chunk = "x" * payload["size"]
        for i in range(payload["count"]):
            await self.emit("chunk", {"i": i, "data": chunk})
        return payload["count"]

    async def on_whoami(self):
        return self.channel_name

    async def on_whisper(self, payload):
        await self.send_to(
            payload["to"], "whispered", {"n": payload["n"], "pad": payload.get("pad")}
        )

    async def on_stats(self):
        import easy_channels

        return easy_channels.stats()

    async def on_spray(self, payload):
        """A group send and an emit per frame: a fast sender keeps both in flight."""
        await self.group_send("flood", "sprayed", {"data": "y" * payload.get("size", 1000)})
        await self.emit("sprayed_back", {"n": payload.get("n")})


class Stall(JSONWebSocket):
    """Awaits a group send on the ``stall`` layer (a Redis that the test stalls)."""

    channel_layer_alias = "stall"

    async def on_send(self, payload):
        await self.group_send("stalled", "said", {"text": payload.get("text", "")})
        return "sent"


class Throttled(JSONWebSocket):
    """Behind easy_channels' Throttle (the default THROTTLE: 20/s, burst 20, close after 50)."""

    middlewares = ["easy_channels.middleware.Throttle"]
    runs = 0  # handler runs in this process, of every socket

    async def on_work(self):
        type(self).runs += 1
        await asyncio.sleep(0.05)

    async def on_runs(self):
        return type(self).runs


class Slow(JSONWebSocket):
    """A handler that holds its socket's queue for half a second per frame."""

    async def on_hold(self, payload):
        await asyncio.sleep(0.5)
        return len(payload.get("data", ""))
