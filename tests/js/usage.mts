// Compiled by tests/test_npm_package.py with `tsc --noEmit --strict`: the package's types, as an
// ES-module user of the npm package sees them.
import EasyChannels, { connect, EasyChannelsError, EasyChannelsSocket } from "django-easy-channels-client";
import type { Listener, PresenceView } from "django-easy-channels-client";

const socket: EasyChannelsSocket = connect("/ws/chat/ana/", { reconnectDelay: 250 });
socket.on("said", (data: { text: string }) => console.log(data.text));
socket.emit("say", { text: "hi" });
const answer: Promise<number> = socket.request<number>("add", { a: 1, b: 2 }, { timeout: 1000 });
answer.catch((error: unknown) => {
  if (error instanceof EasyChannelsError) console.log(error.code);
});
// Server calls: the first listener's return value, or what its promise resolves to, answers.
socket.on<{ question: string }, boolean>("confirm", ({ question }) => question.endsWith("?"));
socket.on<{ id: number }, { title: string }>("get_draft", async ({ id }) => ({ title: `#${id}` }));
socket.once("get_time", () => Date.now());
const double: Listener<{ x: number }, number> = function ({ x }) {
  return this.connected ? Promise.resolve(x * 2) : x * 2;
};
socket.on("double", double).off("double", double);
// @ts-expect-error: an answer typed as a number can't be a string
socket.on<{ x: number }, number>("double", ({ x }) => `${x * 2}`);
const room: PresenceView<{ tab: string }> = socket.presence<{ tab: string }>("room-1");
room
  .on("join", (key: string, metas, joined) => console.log(key, metas.length, joined[0].tab))
  .on("leave", (key, metas: { tab: string }[], left) => console.log(key, metas, left.length))
  .on("sync", () => console.log(room.list().map(({ key, metas }) => `${key}:${metas.length}`)));
const tabs: { tab: string }[] | undefined = room.get("ana");
void tabs;
const same: typeof connect = EasyChannels.connect;
void same;
socket.close();
