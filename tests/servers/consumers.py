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
