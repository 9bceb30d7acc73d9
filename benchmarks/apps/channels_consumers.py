"""
The raw Channels consumer: what the Channels tutorial has users write for the same three events.

Idiomatic Channels: ``group_send`` carries the data in a ``type``d message and each member's
handler encodes its own frame with ``send_json``; acks are hand-rolled in the easy_channels
format so the load generator is the same.
"""

from channels.generic.websocket import AsyncJsonWebsocketConsumer


class Bench(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.joined = []
        await self.accept()

    async def disconnect(self, code):
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        event = content.pop("event", None)
        ack = content.pop("ack", None)
        if event == "echo":
            data = content
        elif event == "join":
            await self.channel_layer.group_add(content["group"], self.channel_name)
            self.joined.append(content["group"])
            data = True
        elif event == "broadcast":
            await self.channel_layer.group_send(
                content["group"],
                {"type": "bench.msg", "seq": content["seq"], "text": content["text"]},
            )
            data = True
        else:
            return
        if ack is not None:
            await self.send_json({"event": "ack", "ack": ack, "data": data})

    async def bench_msg(self, message):
        await self.send_json({"event": "msg", "seq": message["seq"], "text": message["text"]})
