"""The easy_channels consumer under test: three ``async def`` handlers, each answering an ack."""

from easy_channels import JSONWebSocket


class Bench(JSONWebSocket):
    async def on_echo(self, payload):
        return payload

    async def on_join(self, payload):
        await self.group_add(payload["group"])
        return True

    async def on_broadcast(self, payload):
        # Encoded once by easy_channels, written as is by every member.
        await self.group_send(
            payload["group"], "msg", {"seq": payload["seq"], "text": payload["text"]}
        )
        return True


class RecoveringBench(Bench):
    """The same handlers with recovery: sessions kept, group messages recorded for replay."""

    recovery = True


class PresentBench(Bench):
    """The same handlers, joining with presence: members are tracked and told who is there."""

    async def on_join(self, payload):
        await self.presence_add(payload["group"])
        return True
