/*!
 * easy-channels.js 0.1.0: the browser client of django-easy-channels (MIT licence).
 *
 * Speaks the easy_channels wire protocol (docs/protocol.md): JSON text frames
 * {"event": name, ...payload}, acknowledgements, error frames, connect_error refusals, the
 * _ping/_pong heartbeat, and presence (socket.presence(group) keeps who is in a group from its
 * presence_state and presence_diff frames). No dependencies and no build step.
 *
 * Two ways to load it, same API:
 *
 *   Classic script, defines the global `EasyChannels`:
 *
 *     <script src="{% static 'easy_channels/easy-channels.js' %}"></script>
 *     <script>
 *       const socket = EasyChannels.connect("/ws/chat/ana/");
 *     </script>
 *
 *   ES module, through the sibling file easy-channels.mjs:
 *
 *     import { connect } from "/static/easy_channels/easy-channels.mjs";
 *
 * Why two files: `export` is a syntax error in a classic script, so no single file can be both a
 * classic script and a module with named exports. This file is therefore a classic script, but
 * written so that it also runs unchanged when imported as a module: the code sits in a strict
 * IIFE, never uses the top-level `this` (undefined in a module) and declares no globals other
 * than the one it assigns to `globalThis.EasyChannels`. easy-channels.mjs imports it for that
 * side effect and re-exports the global's members: one copy of the code, and a page that loads
 * both ways gets the same objects (see the version check below).
 *
 * Types: easy-channels.d.ts (global and UMD) and easy-channels.d.mts (the module).
 */
(function (global) {
  "use strict";

  const VERSION = "0.1.0";

  // Loaded twice (a <script> and an import of the .mjs): keep the first copy, so that
  // `instanceof EasyChannelsError` and friends give the same answer everywhere on the page.
  if (global.EasyChannels && global.EasyChannels.version === VERSION) {
    return;
  }

  // 1-100 characters, none of them a control character (the server's rule; on_<name>
  // handlers need identifier names, @on binds any other).
  const EVENT_NAME = /^[^\u0000-\u001f\u007f]{1,100}$/;
  const PING_TEXT = '{"event":"_ping"}'; // byte for byte what the server recognises as a ping
  const OPEN = 1; // WebSocket.OPEN, without relying on the WebSocket global at load time
  // setTimeout treats a delay above 2^31 - 1 ms as 0: anything longer means "never" here.
  const MAX_TIMER = 2147483647;
  // Names of the client's own lifecycle events. A server event with one of these names could
  // not be told apart from them, so such frames are dropped (with a warning), as Socket.IO
  // does. connect_error, error and ack are protocol frames: the server never sends them as
  // application events.
  const LIFECYCLE_EVENTS = ["connect", "disconnect", "reconnecting"];
  const UNAVAILABLE = 4503; // connect_error code of a refusal that is retried

  /** Defaults of every option; see easy-channels.d.ts for what each does. */
  const defaults = Object.freeze({
    autoConnect: true,
    reconnect: true,
    reconnectDelay: 500,
    reconnectDelayMax: 10000,
    reconnectAttempts: Infinity,
    randomizationFactor: 0.5,
    // Normal close, protocol abuse, refusals, and 4404: websocket_router has no such route.
    noReconnectCodes: Object.freeze([1000, 4000, 4401, 4403, 4404]),
    connectTimeout: 20000,
    requestTimeout: 10000,
    bufferSize: 100,
    heartbeatInterval: 25000,
    heartbeatTimeout: 10000,
  });

  const BOOLEAN_OPTIONS = ["autoConnect", "reconnect"];
  const NUMBER_OPTIONS = [
    "reconnectDelay",
    "reconnectDelayMax",
    "reconnectAttempts",
    "connectTimeout",
    "requestTimeout",
    "bufferSize",
    "heartbeatInterval",
    "heartbeatTimeout",
  ];

  /** What a request rejects with: an error frame of the server, or a client-side failure. */
  class EasyChannelsError extends Error {
    constructor(code, message, details) {
      super(message || code);
      this.name = "EasyChannelsError";
      this.code = code;
      this.details = details;
    }
  }

  // -- helpers --------------------------------------------------------------------------------

  function isPlainObject(value) {
    if (value === null || typeof value !== "object") return false;
    const proto = Object.getPrototypeOf(value);
    // {} and Object.create(null), also from another frame (whose Object.prototype differs).
    return proto === null || Object.getPrototypeOf(proto) === null;
  }

  function later(fn, ms) {
    return ms > MAX_TIMER ? null : setTimeout(fn, ms);
  }

  function checkEventName(event, what) {
    if (typeof event !== "string" || !EVENT_NAME.test(event)) {
      throw new TypeError(
        `EasyChannels: ${what}: invalid event name ${JSON.stringify(String(event))}; use 1-100 ` +
          "characters, none of them a control character.",
      );
    }
  }

  /** The text of a client frame; throws TypeError for anything the server would refuse. */
  function encodeFrame(event, payload, ack, what) {
    checkEventName(event, what);
    if (payload !== undefined) {
      if (!isPlainObject(payload)) {
        throw new TypeError(`EasyChannels: ${what}: the payload must be a plain object.`);
      }
      for (const key of ["event", "ack"]) {
        if (Object.prototype.hasOwnProperty.call(payload, key)) {
          throw new TypeError(`EasyChannels: ${what}: the payload may not have the key '${key}'.`);
        }
      }
    }
    // Spread, not Object.assign: a "__proto__" key stays a plain key.
    const frame = ack === undefined ? { event, ...payload } : { event, ack, ...payload };
    return JSON.stringify(frame);
  }

  /** Absolute ws:/wss: URL for a path, a ws(s):// URL or an http(s):// URL. */
  function resolveUrl(url) {
    if (typeof url !== "string" || url === "") {
      throw new TypeError("EasyChannels.connect: the URL must be a non-empty string.");
    }
    const base = global.location ? global.location.href : undefined;
    let parsed;
    try {
      parsed = new URL(url, base);
    } catch (err) {
      throw new TypeError(`EasyChannels.connect: invalid URL ${JSON.stringify(url)}.`);
    }
    if (parsed.protocol === "http:") parsed.protocol = "ws:";
    else if (parsed.protocol === "https:") parsed.protocol = "wss:";
    else if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
      throw new TypeError(`EasyChannels.connect: not a WebSocket URL: ${JSON.stringify(url)}.`);
    }
    parsed.hash = ""; // the WebSocket constructor refuses fragments
    return parsed.href;
  }

  function checkOptions(options) {
    if (options === undefined || options === null) return Object.freeze({ ...defaults });
    if (!isPlainObject(options)) {
      throw new TypeError("EasyChannels.connect: options must be a plain object.");
    }
    const merged = { ...defaults };
    for (const key of Object.keys(options)) {
      if (!Object.prototype.hasOwnProperty.call(defaults, key)) {
        throw new TypeError(`EasyChannels.connect: unknown option '${key}'.`);
      }
      if (options[key] !== undefined) merged[key] = options[key];
    }
    for (const key of BOOLEAN_OPTIONS) {
      if (typeof merged[key] !== "boolean") {
        throw new TypeError(`EasyChannels.connect: option '${key}' must be true or false.`);
      }
    }
    for (const key of NUMBER_OPTIONS) {
      if (typeof merged[key] !== "number" || !(merged[key] >= 0)) {
        throw new TypeError(`EasyChannels.connect: option '${key}' must be a number >= 0.`);
      }
    }
    const factor = merged.randomizationFactor;
    if (typeof factor !== "number" || !(factor >= 0 && factor <= 1)) {
      throw new TypeError("EasyChannels.connect: option 'randomizationFactor' must be in [0, 1].");
    }
    const codes = merged.noReconnectCodes;
    if (!Array.isArray(codes) || !codes.every(Number.isInteger)) {
      throw new TypeError(
        "EasyChannels.connect: option 'noReconnectCodes' must be an array of integers.",
      );
    }
    merged.noReconnectCodes = Object.freeze(codes.slice());
    return Object.freeze(merged);
  }

  function reportListenerError(event, err, where = "") {
    console.error(`EasyChannels: a '${event}' listener${where} threw:`, err);
  }

  /** The `error` of a server call's _reply when its listener threw `err` (or rejected). */
  function clientError(err) {
    return { code: "client_error", message: String((err && err.message) || err) };
  }

  /** The `error` of a server call's _reply when no listener is there to answer it. */
  function noHandler(event) {
    return { code: "unknown_event", message: `No handler for ${event}.` };
  }

  // -- presence -------------------------------------------------------------------------------

  const PRESENCE_EVENTS = ["join", "leave", "sync"];

  /** Deep equality of two JSON values (object keys in any order). */
  function jsonEqual(a, b) {
    if (a === b) return true;
    if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every(
      (key) => Object.prototype.hasOwnProperty.call(b, key) && jsonEqual(a[key], b[key]),
    );
  }

  /** A frozen deep copy of a JSON value: the view's metas can't change under it. */
  function frozenCopy(value) {
    if (value === null || typeof value !== "object") return value;
    if (Array.isArray(value)) return Object.freeze(value.map(frozenCopy));
    // fromEntries, not assignment: a "__proto__" key stays a plain key.
    const entries = Object.entries(value).map(([key, item]) => [key, frozenCopy(item)]);
    return Object.freeze(Object.fromEntries(entries));
  }

  /** `{key: [meta, ...]}` of a presence frame as a Map of frozen copies; null if malformed. */
  function readMembers(value) {
    if (!isPlainObject(value)) return null;
    const members = new Map();
    for (const [key, metas] of Object.entries(value)) {
      if (!Array.isArray(metas)) return null;
      if (metas.length) members.set(key, metas.map(frozenCopy));
    }
    return members;
  }

  /** `metas` less one equal meta for each of `removed` (a multiset difference). */
  function without(metas, removed) {
    const rest = metas.slice();
    for (const meta of removed) {
      const i = rest.findIndex((item) => jsonEqual(item, meta));
      if (i !== -1) rest.splice(i, 1);
    }
    return rest;
  }

  /**
   * Who is in one presence group, as this socket was told: built from the group's
   * presence_state and presence_diff frames. Made by EasyChannelsSocket.presence(group).
   */
  class PresenceView {
    constructor(group) {
      /** The group's name. */
      this.group = group;
      this._members = new Map(); // key -> frozen metas, keys in the order first seen
      this._listeners = new Map(); // event -> array of listeners, replaced on change
    }

    /** `[{key, metas}, ...]`, keys in the order they were first seen; metas are copies. */
    list() {
      return [...this._members].map(([key, metas]) => ({ key, metas: metas.slice() }));
    }

    /** A copy of the metas of `key`, or undefined when it is not in the group. */
    get(key) {
      const metas = this._members.get(String(key));
      return metas ? metas.slice() : undefined;
    }

    on(event, listener) {
      if (!PRESENCE_EVENTS.includes(event)) {
        throw new TypeError(
          `EasyChannels: presence on(): the event must be "join", "leave" or "sync", not ` +
            `${JSON.stringify(String(event))}.`,
        );
      }
      if (typeof listener !== "function") {
        throw new TypeError("EasyChannels: presence on(): the listener must be a function.");
      }
      this._listeners.set(event, [...(this._listeners.get(event) || []), listener]);
      return this;
    }

    off(event, listener) {
      if (event === undefined) {
        this._listeners.clear();
      } else if (listener === undefined) {
        this._listeners.delete(event);
      } else {
        const list = this._listeners.get(event) || [];
        const i = list.lastIndexOf(listener); // the most recently added match, as socket.off
        const rest = i === -1 ? list : list.slice(0, i).concat(list.slice(i + 1));
        if (rest.length) this._listeners.set(event, rest);
        else this._listeners.delete(event);
      }
      return this;
    }

    /** Call the listeners of `event` with `args`. Never throws (see EasyChannelsSocket._fire). */
    _fire(event, ...args) {
      const where = ` of presence(${JSON.stringify(this.group)})`;
      for (const listener of this._listeners.get(event) || []) {
        try {
          const result = listener.apply(this, args);
          if (result && typeof result.then === "function") {
            result.then(undefined, (err) => reportListenerError(event, err, where));
          }
        } catch (err) {
          reportListenerError(event, err, where);
        }
      }
    }

    /** Apply a presence_state or presence_diff frame of this group, then fire `sync`. */
    _apply(frame) {
      if (frame.event === "presence_state") {
        const members = readMembers(frame.members);
        if (members === null) return false;
        // What changed against what we knew, as one diff (Phoenix's syncState).
        const joins = new Map();
        const leaves = new Map();
        for (const [key, metas] of this._members) {
          if (!members.has(key)) leaves.set(key, metas);
        }
        for (const [key, metas] of members) {
          const known = this._members.get(key) || [];
          joins.set(key, without(metas, known));
          leaves.set(key, without(known, metas));
        }
        this._change(joins, leaves);
      } else {
        const joins = readMembers(frame.joins || {});
        const leaves = readMembers(frame.leaves || {});
        if (joins === null || leaves === null) return false;
        this._change(joins, leaves);
      }
      this._fire("sync");
      return true;
    }

    /**
     * Joins first, then leaves: a meta that changed (the old one leaves, the new one joins)
     * never makes its key disappear for a moment.
     */
    _change(joins, leaves) {
      for (const [key, joined] of joins) {
        if (!joined.length) continue;
        const metas = (this._members.get(key) || []).concat(joined);
        this._members.set(key, metas);
        this._fire("join", key, metas.slice(), joined.slice());
      }
      for (const [key, leaving] of leaves) {
        const known = this._members.get(key);
        if (!known) continue;
        const rest = without(known, leaving);
        if (rest.length === known.length) continue; // none of them was here
        const left = without(known, rest);
        if (rest.length) this._members.set(key, rest);
        else this._members.delete(key);
        this._fire("leave", key, rest.slice(), left);
      }
    }
  }

  // -- the socket -----------------------------------------------------------------------------

  class EasyChannelsSocket {
    constructor(url, options) {
      if (typeof global.WebSocket !== "function") {
        throw new TypeError("EasyChannels: this environment has no WebSocket.");
      }
      /** The absolute ws:// or wss:// URL. */
      this.url = resolveUrl(url);
      /** The options in force (defaults filled in), frozen. */
      this.options = checkOptions(options);

      this._state = "closed";
      this._ws = null; // the current WebSocket, connecting or open
      this._listeners = new Map(); // event -> array of listeners, replaced on change, never mutated
      this._buffer = []; // {event, text, request} waiting for a connection, oldest first
      this._requests = new Map(); // ack id -> request awaiting its answer (sent or buffered)
      this._nextAck = 1;
      this._attempts = 0; // reconnection attempts since the last successful connection
      this._everConnected = false;
      this._stopped = false; // stopped for good: close(), a refusal, a final close code, gave up
      this._refused = false; // the current connection got a connect_error frame
      this._overflowWarned = false;
      this._reconnectTimer = null;
      this._connectTimer = null;
      this._pingTimer = null;
      this._deadTimer = null;
      // Recovery (a consumer with `recovery = True`): the session the server gave us, the
      // position read in each group, and whether this connection resumed the session.
      this._session = null;
      this._positions = new Map();
      this._awaitingSession = false; // opened, waiting for the server's _session frame
      this._recovered = false;
      this._presence = new Map(); // group -> PresenceView

      if (this.options.autoConnect) this.open();
    }

    /**
     * True if the current connection resumed the session of the one before (the server
     * replayed the group messages sent meanwhile); false for a new session.
     */
    get recovered() {
      return this._recovered;
    }

    /** "connecting" | "open" | "reconnecting" | "closed" */
    get state() {
      return this._state;
    }

    /** True while a connection is open. */
    get connected() {
      return this._state === "open";
    }

    // -- listeners ------------------------------------------------------------------------------

    on(event, listener) {
      if (typeof event !== "string") {
        throw new TypeError("EasyChannels: on(): the event must be a string.");
      }
      if (typeof listener !== "function") {
        throw new TypeError("EasyChannels: on(): the listener must be a function.");
      }
      const list = this._listeners.get(event) || [];
      this._listeners.set(event, [...list, listener]);
      return this;
    }

    once(event, listener) {
      if (typeof listener !== "function") {
        throw new TypeError("EasyChannels: once(): the listener must be a function.");
      }
      const wrapper = function (arg) {
        this.off(event, wrapper);
        return listener.call(this, arg);
      };
      wrapper.listener = listener; // so that off(event, listener) finds it
      return this.on(event, wrapper);
    }

    off(event, listener) {
      if (event === undefined) {
        this._listeners.clear();
      } else if (listener === undefined) {
        this._listeners.delete(event);
      } else {
        const list = this._listeners.get(event) || [];
        // The most recently added match goes first, as in Node's EventEmitter.
        for (let i = list.length - 1; i >= 0; i--) {
          if (list[i] === listener || list[i].listener === listener) {
            const rest = list.slice(0, i).concat(list.slice(i + 1));
            if (rest.length) this._listeners.set(event, rest);
            else this._listeners.delete(event);
            break;
          }
        }
      }
      return this;
    }

    /**
     * Call the listeners of `event`; false when there were none. Never throws. With `answer`
     * (a server call), the first listener's result, awaited, goes to `answer(true, data)`; what
     * it throws or rejects with (undefined too) is reported, then goes to `answer(false, err)`.
     */
    _fire(event, arg, answer) {
      const list = this._listeners.get(event);
      if (!list || list.length === 0) return false;
      if (answer) {
        // The executor calls the listener at once: a throw rejects, a thenable is awaited.
        new Promise((resolve) => resolve(list[0].call(this, arg))).then(
          (data) => answer(true, data),
          (err) => {
            reportListenerError(event, err);
            answer(false, err);
          },
        );
      }
      for (const listener of answer ? list.slice(1) : list) {
        try {
          const result = listener.call(this, arg);
          if (result && typeof result.then === "function") {
            result.then(undefined, (err) => reportListenerError(event, err));
          }
        } catch (err) {
          reportListenerError(event, err);
        }
      }
      return true;
    }

    // -- presence -----------------------------------------------------------------------------

    /**
     * The view of who is in `group` (a consumer's presence_add), kept up to date from the
     * group's presence_state and presence_diff frames: the same object on every call.
     */
    presence(group) {
      if (typeof group !== "string" || group === "") {
        throw new TypeError("EasyChannels: presence(): the group must be a non-empty string.");
      }
      let view = this._presence.get(group);
      if (!view) {
        view = new PresenceView(group);
        this._presence.set(group, view);
      }
      return view;
    }

    // -- sending ------------------------------------------------------------------------------

    emit(event, payload) {
      const text = encodeFrame(event, payload, undefined, `emit('${String(event)}')`);
      this._send(event, text, null);
      return this;
    }

    request(event, payload, options) {
      const timeout =
        options && options.timeout !== undefined ? options.timeout : this.options.requestTimeout;
      if (typeof timeout !== "number" || !(timeout >= 0)) {
        throw new TypeError("EasyChannels: request(): timeout must be a number >= 0.");
      }
      const ack = this._nextAck;
      const text = encodeFrame(event, payload, ack, `request('${String(event)}')`);
      this._nextAck += 1;
      return new Promise((resolve, reject) => {
        const request = { ack, event, text, resolve, reject, timer: null, sent: false };
        this._requests.set(ack, request);
        if (timeout > 0) {
          request.timer = later(() => {
            const message = `No answer to '${event}' within ${timeout} ms.`;
            this._settle(request, new EasyChannelsError("timeout", message));
          }, timeout);
        }
        this._send(event, text, request);
      });
    }

    _send(event, text, request) {
      const ws = this._ws;
      const live = this._state === "open" && !this._refused && !this._awaitingSession;
      if (live && ws.readyState === OPEN) {
        ws.send(text);
        if (request) request.sent = true;
        return;
      }
      if (this._stopped) {
        if (request) {
          this._settle(request, new EasyChannelsError("closed", "The socket is closed."));
        } else {
          console.warn(`EasyChannels: emit('${event}') on a closed socket was dropped.`);
        }
        return;
      }
      this._buffer.push({ event, text, request });
      while (this._buffer.length > this.options.bufferSize) {
        const dropped = this._buffer.shift();
        if (!this._overflowWarned) {
          this._overflowWarned = true;
          console.warn(
            `EasyChannels: the send buffer is full (bufferSize ${this.options.bufferSize}); ` +
              "dropping the oldest frames until the connection is back.",
          );
        }
        if (dropped.request) {
          const message = `'${dropped.event}' was dropped from the full send buffer.`;
          this._settle(dropped.request, new EasyChannelsError("buffer_full", message));
        }
      }
    }

    /** Settle a request once: with `error` if given, else with `data`. */
    _settle(request, error, data) {
      if (this._requests.get(request.ack) !== request) return;
      this._requests.delete(request.ack);
      if (request.timer !== null) clearTimeout(request.timer);
      if (!request.sent) {
        // A request that failed while buffered must never reach the server later.
        this._buffer = this._buffer.filter((item) => item.request !== request);
      }
      if (error) request.reject(error);
      else request.resolve(data);
    }

    // -- connection ---------------------------------------------------------------------------

    open() {
      if (this._state !== "closed") return this;
      this._stopped = false;
      this._attempts = 0;
      this._state = "connecting";
      this._connectOnce();
      return this;
    }

    close(code = 1000, reason = "") {
      if (code !== 1000 && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) {
        throw new RangeError("EasyChannels: close(): the code must be 1000 or in 3000-4999.");
      }
      reason = String(reason);
      if (new TextEncoder().encode(reason).length > 123) {
        throw new RangeError("EasyChannels: close(): the reason is longer than 123 bytes.");
      }
      const wasActive = this._state !== "closed";
      const ws = this._ws;
      this._dropSocket();
      this._awaitingSession = false;
      this._forgetSession(); // a clean close ends the session: nothing is replayed after it
      if (ws) ws.close(code, reason);
      if (!wasActive && this._stopped) return this;
      this._stop();
      if (wasActive) {
        this._fire("disconnect", { code, reason, wasClean: true, willReconnect: false });
      }
      return this;
    }

    _connectOnce() {
      this._refused = false;
      let ws;
      try {
        ws = new global.WebSocket(this._session ? this._resumeUrl() : this.url);
      } catch (err) {
        // E.g. a port the browser blocks. Counts as a failed attempt, reported asynchronously
        // so that listeners added right after connect() see it (and close() cancels it).
        console.error(`EasyChannels: cannot open a WebSocket to ${this.url}:`, err);
        this._connectTimer = setTimeout(() => {
          this._connectTimer = null;
          this._lost(1006, String(err && err.message), false);
        }, 0);
        return;
      }
      this._ws = ws;
      ws.onopen = () => {
        if (ws === this._ws) this._opened();
      };
      ws.onmessage = (e) => {
        if (ws === this._ws) this._received(e.data);
      };
      ws.onclose = (e) => {
        if (ws === this._ws) this._lost(e.code, e.reason, e.wasClean);
      };
      // onerror is left alone: a close event always follows, and says all a browser may know.
      const { connectTimeout } = this.options;
      if (connectTimeout > 0) {
        this._connectTimer = later(() => this._abandon("connect timeout"), connectTimeout);
      }
    }

    /** The URL with the session to resume and what was read of each group. */
    _resumeUrl() {
      const url = new URL(this.url);
      url.searchParams.set("ec_session", this._session);
      const positions = [...this._positions].map(([group, position]) => `${group}@${position}`);
      if (positions.length) url.searchParams.set("ec_pos", positions.join(","));
      else url.searchParams.delete("ec_pos");
      return url.href;
    }

    _opened() {
      clearTimeout(this._connectTimer);
      this._connectTimer = null;
      this._recovered = false;
      if (this._session) {
        // The server sends _session first; what was buffered waits for it (_sessionStarted).
        this._awaitingSession = true;
        this._state = "open";
        return;
      }
      this._ready(false);
    }

    /** The server's _session frame: resumed, or a new session (see docs/protocol.md). */
    _sessionStarted(frame) {
      const resumed = frame.recovered === true && frame.id === this._session;
      this._session = frame.id;
      if (!resumed) this._positions.clear();
      if (!this._awaitingSession) return; // the first connection: connect already fired
      this._awaitingSession = false;
      this._recovered = resumed;
      for (const request of [...this._requests.values()]) {
        if (!request.sent || !request.text) continue;
        if (resumed) {
          // Asked again with the same id: the server answers it once, however often asked.
          this._ws.send(request.text);
        } else {
          const message =
            `The connection closed before '${request.event}' was answered; ` +
            "the server may or may not have handled it.";
          this._settle(request, new EasyChannelsError("disconnected", message));
        }
      }
      this._ready(resumed);
    }

    _ready(recovered) {
      const reconnect = this._everConnected;
      this._everConnected = true;
      this._attempts = 0;
      this._overflowWarned = false;
      this._state = "open";
      // What was buffered goes first, in order, before anything a connect listener emits.
      const ws = this._ws;
      for (const item of this._buffer.splice(0)) {
        ws.send(item.text);
        if (item.request) item.request.sent = true;
      }
      this._schedulePing();
      this._fire("connect", { reconnect, recovered });
    }

    /** Forget the current WebSocket (its events are ignored from now on) and its timers. */
    _dropSocket() {
      const ws = this._ws;
      this._ws = null;
      if (ws) ws.onopen = ws.onmessage = ws.onclose = null;
      for (const name of ["_connectTimer", "_pingTimer", "_deadTimer"]) {
        clearTimeout(this[name]);
        this[name] = null;
      }
    }

    /**
     * Give up on the current WebSocket without waiting for a close handshake (which may never
     * complete on a dead network), and carry on as if it had closed with 1006.
     */
    _abandon(reason) {
      const ws = this._ws;
      this._dropSocket();
      if (ws) ws.close(); // no handler is left to see its close event
      this._lost(1006, reason, false);
    }

    /** The current WebSocket closed (or was abandoned): report, then retry or stop. */
    _lost(code, reason, wasClean) {
      const wasOpen = this._state === "open" && !this._awaitingSession;
      this._awaitingSession = false;
      this._dropSocket();
      const final =
        this._stopped || this._refused || this.options.noReconnectCodes.includes(code);
      if (final) this._forgetSession();
      // Requests already sent can't be answered on another connection, except one that
      // resumes the session (they are asked again there: see _sessionStarted).
      for (const request of [...this._requests.values()]) {
        if (request.sent && !(this._session && !final)) {
          const message =
            `The connection closed before '${request.event}' was answered; ` +
            "the server may or may not have handled it.";
          this._settle(request, new EasyChannelsError("disconnected", message));
        }
      }
      const retry =
        !final && this.options.reconnect && this._attempts < this.options.reconnectAttempts;
      if (!retry) {
        this._forgetSession();
        this._stop();
        this._fire("disconnect", { code, reason, wasClean, willReconnect: false });
        return;
      }
      this._state = "reconnecting";
      if (wasOpen) this._fire("disconnect", { code, reason, wasClean, willReconnect: true });
      if (this._state === "reconnecting" && this._reconnectTimer === null) {
        this._scheduleReconnect(); // unless a disconnect listener called close() or open()
      }
    }

    _forgetSession() {
      this._session = null;
      this._positions.clear();
    }

    _scheduleReconnect() {
      this._attempts += 1;
      const attempt = this._attempts;
      const delay = this._backoff(attempt);
      this._reconnectTimer = later(() => {
        this._reconnectTimer = null;
        this._connectOnce();
      }, delay);
      this._fire("reconnecting", { attempt, delay });
    }

    /**
     * reconnectDelay doubled per attempt, capped at reconnectDelayMax, then spread by
     * +-randomizationFactor (so that clients dropped together don't all come back together),
     * never above reconnectDelayMax.
     */
    _backoff(attempt) {
      const { reconnectDelay, reconnectDelayMax, randomizationFactor } = this.options;
      const base = Math.min(reconnectDelayMax, reconnectDelay * 2 ** (attempt - 1));
      const spread = 1 + randomizationFactor * (2 * Math.random() - 1);
      return Math.round(Math.min(reconnectDelayMax, base * spread));
    }

    /** Stop for good: nothing buffered will be sent, no request will be answered. */
    _stop() {
      this._stopped = true;
      this._state = "closed";
      clearTimeout(this._reconnectTimer);
      this._reconnectTimer = null;
      this._buffer = [];
      for (const request of [...this._requests.values()]) {
        this._settle(request, new EasyChannelsError("closed", "The socket is closed."));
      }
    }

    // -- heartbeat ----------------------------------------------------------------------------

    _schedulePing() {
      const interval = this.options.heartbeatInterval;
      if (interval > 0) this._pingTimer = later(() => this._ping(), interval);
    }

    _ping() {
      this._pingTimer = null;
      const ws = this._ws;
      if (this._state !== "open" || !ws || ws.readyState !== OPEN) return;
      ws.send(PING_TEXT);
      // Measured from the oldest unanswered ping: any frame that arrives clears it.
      const { heartbeatTimeout } = this.options;
      if (this._deadTimer === null && heartbeatTimeout > 0) {
        this._deadTimer = later(() => this._abandon("heartbeat timeout"), heartbeatTimeout);
      }
      this._schedulePing();
    }

    // -- receiving ----------------------------------------------------------------------------

    _received(data) {
      // Any frame at all proves the connection is alive.
      clearTimeout(this._deadTimer);
      this._deadTimer = null;
      if (typeof data !== "string") {
        console.error("EasyChannels: ignored a binary frame (the protocol uses text frames).");
        return;
      }
      let frame;
      try {
        frame = JSON.parse(data);
      } catch (err) {
        console.error("EasyChannels: ignored a frame that is not JSON:", data.slice(0, 200));
        return;
      }
      if (!isPlainObject(frame) || typeof frame.event !== "string") {
        console.error("EasyChannels: ignored a frame without an event name:", data.slice(0, 200));
        return;
      }
      const event = frame.event;
      if (event === "_pong") return;
      if (event === "_session") {
        this._sessionStarted(frame);
        return;
      }
      if (this._awaitingSession) {
        // The server no longer recovers (its consumer changed): a new start, without it.
        this._sessionStarted({ id: null, recovered: false });
      }
      if (Array.isArray(frame._pos)) {
        this._positions.set(String(frame._pos[0]), String(frame._pos[1]));
      }
      if (event === "ack") {
        const request = this._requests.get(frame.ack);
        if (request && request.sent) {
          this._settle(request, null, "data" in frame ? frame.data : null);
        }
        // else: the answer to a request that timed out; nobody waits for it any more
        return;
      }
      if (event === "error") {
        this._serverError(frame);
        return;
      }
      if (event === "connect_error") {
        // The server refused this socket and closes it next: final (see _lost()), except
        // 4503, a channel layer that was down during the connect, which is worth a retry.
        this._refused = frame.code !== UNAVAILABLE;
        this._fire("connect_error", { code: frame.code, message: frame.message });
        return;
      }
      // A server call: delivered as any event, then answered with a _reply frame.
      const call = Number.isInteger(frame.call) ? frame.call : undefined;
      if (LIFECYCLE_EVENTS.includes(event)) {
        console.warn(
          `EasyChannels: the server sent an event named '${event}', a name the client ` +
            "keeps for its own lifecycle event; it was not delivered. Rename it server-side.",
        );
        if (call !== undefined) this._reply(this._ws, event, call, noHandler(event));
        return;
      }
      if (event === "presence_state" || event === "presence_diff") {
        // The group's view first, so that a listener of the frame sees it up to date.
        const group = typeof frame.group === "string" && frame.group !== "" ? frame.group : null;
        if (group === null || !this.presence(group)._apply(frame)) {
          console.error(`EasyChannels: ignored a malformed '${event}' frame:`, data.slice(0, 200));
        }
      }
      const payload = { ...frame };
      delete payload.event;
      delete payload._pos;
      if (call === undefined) {
        this._fire(event, payload);
        return;
      }
      delete payload.call;
      const ws = this._ws;
      const answered = this._fire(event, payload, (ok, result) => {
        this._reply(ws, event, call, ok ? null : clientError(result), result);
      });
      if (!answered) this._reply(ws, event, call, noHandler(event));
    }

    /**
     * Answer server call `call` of `event`: `error` if given, else `data` (undefined as null).
     * Only on `ws`, the connection the call came on, and only while it is open: a call of an
     * earlier connection is void, so its answer is never buffered.
     */
    _reply(ws, event, call, error, data) {
      if (ws !== this._ws || ws.readyState !== OPEN) return;
      let text;
      if (!error) {
        try {
          text = JSON.stringify({ event: "_reply", call, data: data === undefined ? null : data });
        } catch (err) {
          // A result JSON can't encode (a cycle, a BigInt) is the listener's failure.
          reportListenerError(event, err);
          error = clientError(err);
        }
      }
      ws.send(text || JSON.stringify({ event: "_reply", call, error }));
    }

    _serverError(frame) {
      const { code, message, details } = frame;
      if (frame.ack !== undefined && frame.ack !== null) {
        const request = this._requests.get(frame.ack);
        if (request && request.sent) {
          this._settle(request, new EasyChannelsError(code, message, details));
        }
        return;
      }
      if (!this._fire("error", { code, message, details })) {
        console.warn(`EasyChannels: server error (no 'error' listener): ${code}: ${message}`);
      }
    }
  }

  function connect(url, options) {
    return new EasyChannelsSocket(url, options);
  }

  global.EasyChannels = Object.freeze({
    connect,
    EasyChannelsSocket,
    EasyChannelsError,
    defaults,
    version: VERSION,
  });
})(typeof globalThis !== "undefined" ? globalThis : self);
