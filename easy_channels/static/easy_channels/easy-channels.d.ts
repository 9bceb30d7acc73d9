// Type definitions for easy-channels.js 0.1.0, the browser client of django-easy-channels.
//
// Classic script (<script src=".../easy-channels.js">): include this file in the compilation
// (tsconfig "include"/"files", or /// <reference path=".../easy-channels.d.ts" />) and use the
// global `EasyChannels`. ES module (easy-channels.mjs): easy-channels.d.mts, beside it, gives
// the same types to `import { connect } from ".../easy-channels.mjs"`.
//
// The wire protocol is described in docs/protocol.md of django-easy-channels.

export as namespace EasyChannels;

/** `"connecting"` (first attempt), `"open"`, `"reconnecting"` (retry scheduled or under way),
 * `"closed"` (not started with `autoConnect: false`, or stopped for good). */
export type SocketState = "connecting" | "open" | "reconnecting" | "closed";

/** Options of {@link connect}; every one is optional. */
export interface Options {
  /** Connect at once; with `false`, call {@link EasyChannelsSocket.open}. @defaultValue `true` */
  autoConnect?: boolean;
  /** Reconnect after a connection drops or a connection attempt fails. @defaultValue `true` */
  reconnect?: boolean;
  /**
   * Delay in ms before the first retry. Retry n waits
   * `min(reconnectDelayMax, reconnectDelay * 2 ** (n - 1))`, multiplied by a random factor in
   * `[1 - randomizationFactor, 1 + randomizationFactor]`, and never more than
   * `reconnectDelayMax`. @defaultValue `500`
   */
  reconnectDelay?: number;
  /** Longest delay in ms between two retries. @defaultValue `10000` */
  reconnectDelayMax?: number;
  /**
   * Retries in a row before giving up (then `disconnect` fires with `willReconnect: false`
   * and the state is `"closed"`). The count starts again after each successful connection.
   * @defaultValue `Infinity`
   */
  reconnectAttempts?: number;
  /** Jitter of the retry delays, in [0, 1]; 0 makes them exact. @defaultValue `0.5` */
  randomizationFactor?: number;
  /**
   * Close codes after which the client does not reconnect: a normal close by the server
   * (1000), too many protocol errors (4000), the usual refusals (4401, 4403), and 4404, a path
   * the server has no route for (`websocket_router`: retrying the same URL can't help). Passing
   * a list replaces the default one (spread `EasyChannels.defaults.noReconnectCodes` to extend
   * it). A `connect_error` frame (except code 4503) and {@link EasyChannelsSocket.close} always
   * stop the client.
   * @defaultValue `[1000, 4000, 4401, 4403, 4404]`
   */
  noReconnectCodes?: readonly number[];
  /**
   * A connection attempt still not open after this many ms is abandoned and counts as a
   * failed attempt. 0 disables. @defaultValue `20000`
   */
  connectTimeout?: number;
  /**
   * Default timeout in ms of {@link EasyChannelsSocket.request}, counted from the call (also
   * while the request waits in the send buffer). 0 disables. @defaultValue `10000`
   */
  requestTimeout?: number;
  /**
   * Frames (emits and requests) kept while disconnected, sent in order once connected,
   * before anything emitted from a `connect` listener. When full, the OLDEST frame is dropped
   * (a dropped request rejects with code `"buffer_full"`) and a warning is logged once per
   * outage. @defaultValue `100`
   */
  bufferSize?: number;
  /**
   * While open, send `{"event":"_ping"}` every this many ms; the server answers
   * `{"event":"_pong"}`, which no listener ever sees. 0 disables the heartbeat.
   * @defaultValue `25000`
   */
  heartbeatInterval?: number;
  /**
   * If no frame at all arrives within this many ms after a ping, the connection is taken for
   * dead: the client drops it at once (without waiting for a close handshake that a dead
   * network never completes), fires `disconnect` with
   * `{code: 1006, reason: "heartbeat timeout", wasClean: false}` and reconnects. Any frame
   * counts as a sign of life. 0 disables. @defaultValue `10000`
   */
  heartbeatTimeout?: number;
}

/** The options in force: {@link Options} with every default filled in. */
export type ResolvedOptions = Readonly<Required<Options>>;

/** Payload of `connect`, fired each time a connection opens. */
export interface ConnectEvent {
  /** True when this socket had been connected before (this is a reconnection). */
  reconnect: boolean;
  /**
   * True when this connection resumed the session of the one before (a consumer with
   * `recovery = True`): it is back in its groups and got the group messages it missed.
   * False for a new session: reload what the page shows.
   */
  recovered: boolean;
}

/**
 * Payload of `disconnect`, fired when an open connection ends, and also whenever the client
 * stops for good (state `"closed"`): `willReconnect: false` always means it is over.
 */
export interface DisconnectEvent {
  /**
   * The close code; 1006 when the connection failed or was dropped by the client, 4404 when
   * the server has no route for the URL's path.
   */
  code: number;
  /** The close reason, `"heartbeat timeout"` or `"connect timeout"` for dropped ones. */
  reason: string;
  wasClean: boolean;
  /** Whether a retry is scheduled (then `reconnecting` follows). */
  willReconnect: boolean;
}

/** Payload of `reconnecting`, fired when a retry is scheduled. */
export interface ReconnectingEvent {
  /** 1 for the first retry after a drop. */
  attempt: number;
  /** Milliseconds until this retry. */
  delay: number;
}

/**
 * Payload of `connect_error`: the server refused the socket (its `Reject`, or code 4404 when
 * no route matches the URL's path). The close that follows is final: the client does not
 * reconnect, except after code 4503 (the server's channel layer was unavailable during the
 * connect), which it retries with backoff. `connect` has fired already for this connection: the server accepts a socket in
 * order to say why it refuses it.
 */
export interface ConnectErrorEvent {
  /** The close code the server chose, e.g. 4401, 4403, or 4404 (no route for the path). */
  code: number;
  message: string;
}

/** Payload of `error`: a server error frame answering an `emit` (one without an ack id). */
export interface ServerErrorEvent {
  /** E.g. `"unknown_event"`, `"invalid"`, `"forbidden"` or an app's `SocketError` code. */
  code: string;
  message: string;
  /** Extra data (`details` of a `SocketError`, field errors of `invalid`), if any. */
  details?: unknown;
}

/** The client's own events and their payloads. */
export interface LifecycleEvents {
  connect: ConnectEvent;
  disconnect: DisconnectEvent;
  reconnecting: ReconnectingEvent;
  connect_error: ConnectErrorEvent;
  error: ServerErrorEvent;
}

export type LifecycleEventName = keyof LifecycleEvents;

/** Payload of an emit or request: a plain object without the keys `event` and `ack`. */
export type Payload = Record<string, unknown>;

/**
 * A listener of {@link EasyChannelsSocket.on}. What it returns, a value or a promise of one, is
 * the answer to a server call when it is the call event's first listener, and is ignored
 * otherwise. `R` types that answer (any value by default).
 */
export type Listener<T, R = unknown> = (
  this: EasyChannelsSocket,
  payload: T,
) => R | PromiseLike<R>;

/** Options of one {@link EasyChannelsSocket.request}. */
export interface RequestOptions {
  /** Milliseconds before rejecting with code `"timeout"`; 0 waits forever.
   * @defaultValue the socket's `requestTimeout` */
  timeout?: number;
}

/** A tracked socket's meta: the JSON object its consumer passed to `presence_add`. */
export type PresenceMeta = Record<string, any>;

/** One key of a {@link PresenceView}: a user (or a key given to `presence_add`) and the metas
 * of its tracked sockets, one per socket (a user's tabs). */
export interface PresenceEntry<M = PresenceMeta> {
  key: string;
  metas: M[];
}

/** The listeners of a {@link PresenceView}'s events. */
export interface PresenceListeners<M = PresenceMeta> {
  /** `key` gained metas: `metas` is all it has now, `joined` the ones that came. */
  join: (this: PresenceView<M>, key: string, metas: M[], joined: M[]) => unknown;
  /** `key` lost metas: `metas` is what it has left (`[]`: the key is gone), `left` the ones
   * that went. */
  leave: (this: PresenceView<M>, key: string, metas: M[], left: M[]) => unknown;
  /** A `presence_state` or `presence_diff` frame was applied (after its joins and leaves). */
  sync: (this: PresenceView<M>) => unknown;
}

/**
 * Who is in one presence group, as the server told this socket (a consumer's
 * `presence_add(group, meta, key)`): kept from the group's `presence_state` frame (which
 * replaces it; what differs from before fires `join` and `leave`, as Phoenix's `syncState`)
 * and its `presence_diff` frames (joins append metas; each meta of `leaves` removes one equal
 * meta, by deep JSON equality). It keeps what it knows while the socket is disconnected, until
 * the next `presence_state`. Get it with {@link EasyChannelsSocket.presence}.
 *
 * The metas are the view's own deep-frozen copies; the arrays handed out are fresh copies. A
 * listener that throws (or returns a rejected promise) is reported with console.error.
 */
export interface PresenceView<M = PresenceMeta> {
  /** The group's name. */
  readonly group: string;
  /** Every key with its metas, keys in the order they were first seen. */
  list(): PresenceEntry<M>[];
  /** The metas of `key`, or `undefined` when the key is not in the group. */
  get(key: string): M[] | undefined;
  /** Call `listener` on each `join`, `leave` or `sync` (TypeError for another name). */
  on<E extends keyof PresenceListeners<M>>(event: E, listener: PresenceListeners<M>[E]): this;
  /** Remove `listener`; without it, every listener of `event`; without arguments, all. */
  off<E extends keyof PresenceListeners<M>>(event?: E, listener?: PresenceListeners<M>[E]): this;
}

/**
 * How a request fails: the server's error frame (`code`, `message`, `details` as sent), or
 * one of the client's own codes:
 *
 * - `"timeout"`: no answer within the timeout (the server may still handle the frame later;
 *   a request that timed out while buffered is never sent);
 * - `"disconnected"`: the connection closed after the request was sent and before its
 *   answer; the server may or may not have run the handler;
 * - `"closed"`: the socket was closed (or stopped for good) before the request was answered;
 * - `"buffer_full"`: the request was dropped from the full send buffer.
 */
export declare class EasyChannelsError extends Error {
  constructor(code: string, message?: string, details?: unknown);
  readonly name: "EasyChannelsError";
  readonly code: string;
  readonly details: unknown;
}

/**
 * A socket speaking the easy_channels protocol, with reconnection, a send buffer, requests
 * with acknowledgements and a heartbeat. Create it with {@link connect}.
 *
 * App events and the lifecycle events `connect`, `disconnect`, `reconnecting`, `connect_error`
 * and `error` share one namespace, as in Socket.IO. The server can't send `ack`, `error` or
 * `connect_error` as app events; a server event named `connect`, `disconnect` or
 * `reconnecting` is not delivered (a warning is logged). `_pong` is never delivered.
 */
export declare class EasyChannelsSocket {
  /** Prefer {@link connect}; `url` and `options` as there. */
  constructor(url: string, options?: Options);

  /** The absolute ws:// or wss:// URL. */
  readonly url: string;
  /** The options in force, defaults filled in (frozen). */
  readonly options: ResolvedOptions;
  readonly state: SocketState;
  /** True while a connection is open (`state === "open"`). */
  readonly connected: boolean;
  /** Whether the current connection resumed the previous one's session (see ConnectEvent). */
  readonly recovered: boolean;

  /**
   * Call `listener` for each `event`. App events get the server frame without its `event`
   * key: `{"event": "message", "text": "hi"}` calls `listener({text: "hi"})`. A listener that
   * throws (or returns a rejected promise) is reported with console.error; the others still
   * run.
   *
   * Server calls: a frame with an integer `call` id (the consumer's `await self.call(event,
   * payload)`), `{"event": "ask", "call": 7, "x": 2}`, runs the listeners of `ask` the same
   * way, with the payload without `call` (`{x: 2}`), and the FIRST listener answers it: its
   * return value, awaited if it is a promise, is sent back as
   * `{"event": "_reply", "call": 7, "data": value}` (`undefined` as `null`; it must be
   * JSON-encodable). If that listener throws or rejects, the answer is
   * `{"event": "_reply", "call": 7, "error": {"code": "client_error", "message": ...}}`, the
   * message being the error's `message` (or the thrown value as a string), and the error is
   * reported as above; without a listener it is the error `"unknown_event"`. The others'
   * return values are ignored. The answer goes only to the connection the call came on, if it
   * is still open: after a reconnection the call is void and nothing is sent. `R` types the
   * answer: `on<{x: number}, number>("ask", ({x}) => x * 2)`.
   */
  on<E extends LifecycleEventName>(event: E, listener: Listener<LifecycleEvents[E]>): this;
  on<T = any, R = unknown>(event: string, listener: Listener<T, R>): this;
  /** Like {@link on}, for the next `event` only (a server call also counts as one). */
  once<E extends LifecycleEventName>(event: E, listener: Listener<LifecycleEvents[E]>): this;
  once<T = any, R = unknown>(event: string, listener: Listener<T, R>): this;
  /**
   * Remove `listener` (also one added with `once`); without `listener`, every listener of
   * `event`; without arguments, every listener.
   */
  off(event?: string, listener?: Listener<any>): this;

  /**
   * Send `{"event": event, ...payload}`. While not connected the frame waits in the send
   * buffer (see {@link Options.bufferSize}); after the socket stopped for good it is dropped
   * with a warning. Throws a TypeError at once for an invalid event name (not matching
   * `^[A-Za-z_][A-Za-z0-9_]{0,99}$`), a payload that is not a plain object, or one with the
   * key `event` or `ack`.
   */
  emit(event: string, payload?: Payload): this;

  /**
   * Send `{"event": event, "ack": id, ...payload}` and resolve with the `data` of the server's
   * answer (the handler's return value). Rejects with an {@link EasyChannelsError}. Buffered
   * like {@link emit} while disconnected. Throws a TypeError at once for the same arguments as
   * {@link emit}.
   */
  request<T = any>(event: string, payload?: Payload, options?: RequestOptions): Promise<T>;

  /**
   * The {@link PresenceView} of `group`: the same object on every call, made by the first
   * call or the group's first presence frame. The `presence_state` and `presence_diff` frames
   * also reach `on("presence_state" | "presence_diff")` listeners, after the view was updated.
   * Throws a TypeError unless `group` is a non-empty string.
   */
  presence<M = PresenceMeta>(group: string): PresenceView<M>;

  /** Connect (after `autoConnect: false`, or again after {@link close}); no-op unless closed. */
  open(): this;

  /**
   * Close for good: no reconnection, buffered frames are dropped and pending requests reject
   * with code `"closed"`. Fires `disconnect` (`willReconnect: false`) unless already closed.
   * `code` must be 1000 or 3000-4999, `reason` at most 123 bytes of UTF-8 (else RangeError).
   */
  close(code?: number, reason?: string): this;
}

/**
 * Open a socket. `url` is a path (`"/ws/chat/ana/"`, resolved against the page: ws: on an
 * http: page, wss: on https:), a ws:// or wss:// URL (used as is), or an http(s):// URL
 * (turned into ws(s)://). Connects at once unless `autoConnect` is false.
 */
export declare function connect(url: string, options?: Options): EasyChannelsSocket;

/** The default of every option. */
export declare const defaults: ResolvedOptions;

/** The client's version, e.g. `"0.1.0"`. */
export declare const version: string;
