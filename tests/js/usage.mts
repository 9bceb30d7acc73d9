// Compiled by tests/test_npm_package.py with `tsc --noEmit --strict`: the package's types, as an
// ES-module user of the npm package sees them.
import EasyChannels, { connect, EasyChannelsError, EasyChannelsSocket } from "django-easy-channels-client";

const socket: EasyChannelsSocket = connect("/ws/chat/ana/", { reconnectDelay: 250 });
socket.on("said", (data: { text: string }) => console.log(data.text));
socket.emit("say", { text: "hi" });
const answer: Promise<number> = socket.request<number>("add", { a: 1, b: 2 }, { timeout: 1000 });
answer.catch((error: unknown) => {
  if (error instanceof EasyChannelsError) console.log(error.code);
});
const same: typeof connect = EasyChannels.connect;
void same;
socket.close();
