/*
 * The chat page with the official Socket.IO client (global `io`, vendor/socket.io-client-*),
 * served at /socketio/. The same consumer serves it on the Socket.IO namespace "/chat": this
 * page and chat.js (the easy_channels client) chat in the same rooms. The file follows chat.js
 * line for line where it can, so a diff of the two shows what differs between the clients.
 * Everything is written with textContent: chat text is never parsed as HTML.
 */
(function () {
  "use strict";

  const $ = (selector) => document.querySelector(selector);
  const TYPING_SHOWN_MS = 3000;
  const TYPING_EVERY_MS = 1500;
  const SAY_TIMEOUT_MS = 30000;

  let socket = null;
  let myId = null;
  const members = new Map(); // member id -> nickname
  const shown = new Set(); // ids of the messages on the page (history and live ones overlap)
  const typing = new Map(); // member id -> timer
  let lastTyping = 0;

  function show(element, text) {
    element.textContent = text || "";
    element.hidden = !text;
  }

  function setStatus(state, text) {
    const status = $("#status");
    status.dataset.state = state;
    status.textContent = text || state;
  }

  // A handler's error reaches an ack callback as its only argument: {error: {code, message,
  // details?}} (a ValidationError's details are its message_dict).
  function errorText({ message, details }) {
    return details && details.text ? `${message} ${details.text.join(" ")}` : message;
  }

  function renderMembers() {
    const list = $("#members");
    list.replaceChildren();
    const sorted = [...members].sort((a, b) => a[1].localeCompare(b[1]));
    for (const [id, nickname] of sorted) {
      const item = document.createElement("li");
      item.textContent = id === myId ? `${nickname} (you)` : nickname;
      item.dataset.id = id;
      list.append(item);
    }
    $("#member-count").textContent = String(members.size);
  }

  function addMessage(message) {
    if (shown.has(message.id)) return;
    shown.add(message.id);
    const item = document.createElement("li");
    item.dataset.id = String(message.id);
    const time = document.createElement("time");
    time.dateTime = message.created;
    time.textContent = new Date(message.created).toLocaleTimeString([], {
      hour: "2-digit",
      minute: "2-digit",
    });
    const who = document.createElement("b");
    who.textContent = message.nickname;
    const text = document.createElement("span");
    text.textContent = message.text;
    item.append(time, who, text);
    // Keep id order: a message sent while offline may arrive after newer history.
    const list = $("#messages");
    const after = [...list.children].find((li) => Number(li.dataset.id) > message.id);
    list.insertBefore(item, after || null);
    list.scrollTop = list.scrollHeight;
  }

  function renderTyping() {
    const names = [...typing.keys()].map((id) => members.get(id)).filter(Boolean);
    $("#typing").textContent =
      names.length === 0 ? "" : `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…`;
  }

  function join(room, nickname) {
    $("#join-view").hidden = true;
    $("#chat-view").hidden = false;
    $("#room-name").textContent = room;
    show($("#chat-error"), "");
    setStatus("connecting");
    // The namespace "/chat" on this site, at the default path /socket.io/. The client starts
    // with HTTP long-polling and upgrades to a WebSocket. on_connect reads room and nickname
    // from this auth object (self.auth), sent again on every reconnection.
    socket = io("/chat", {
      auth: { room, nickname },
      reconnectionDelay: 500,
      reconnectionDelayMax: 5000,
    });
    window.chatSocket = socket; // for the console: chatSocket.io.engine.transport.name

    socket.on("connect", () => {
      setStatus("online");
      show($("#chat-error"), "");
      socket.emit("history", (reply) => {
        if (Array.isArray(reply)) {
          for (const message of reply) addMessage(message);
        } else {
          show($("#chat-error"), `Could not load the history: ${errorText(reply.error)}`);
        }
      });
    });
    socket.on("welcome", ({ id }) => {
      // Sent by on_connect on every (re)connection: start the members list afresh.
      myId = id;
      members.clear();
      members.set(id, nickname);
      renderMembers();
    });
    socket.on("joined", ({ id, nickname }) => {
      members.set(id, nickname);
      renderMembers();
    });
    socket.on("member", ({ id, nickname }) => {
      members.set(id, nickname);
      renderMembers();
    });
    socket.on("left", ({ id }) => {
      members.delete(id);
      typing.delete(id);
      renderMembers();
      renderTyping();
    });
    socket.on("message", (message) => {
      addMessage(message);
      const member = [...members].find(([, name]) => name === message.nickname);
      if (member && typing.delete(member[0])) renderTyping();
    });
    socket.on("typing", ({ id }) => {
      clearTimeout(typing.get(id));
      typing.set(
        id,
        setTimeout(() => {
          typing.delete(id);
          renderTyping();
        }, TYPING_SHOWN_MS),
      );
      renderTyping();
    });
    socket.on("announcement", ({ text }) => show($("#announcement"), `📣 ${text}`));
    // Reconnection is the Manager's (socket.io), shared by the namespaces of one connection.
    socket.io.on("reconnect_attempt", (attempt) => {
      setStatus("reconnecting", `reconnecting (attempt ${attempt})`);
    });
    socket.on("disconnect", () => {
      // socket.active: the client will reconnect (not after socket.close() or a server close).
      setStatus(socket.active ? "reconnecting" : "offline");
    });
    socket.on("connect_error", (error) => {
      // A failed attempt while the server is away: the client tries again (socket.active).
      if (socket.active) return;
      // The server refused the socket (Reject in on_connect; its code is error.data.code): the
      // client gives up. Back to the form, with the reason.
      leave();
      show($("#join-error"), `Could not join: ${error.message}`);
    });
    // An error with no ack to carry it (a frame the server could not take, say).
    socket.on("error", (error) => show($("#chat-error"), errorText(error)));
  }

  function leave() {
    if (socket) socket.close();
    socket = null;
    members.clear();
    shown.clear();
    typing.clear();
    $("#messages").replaceChildren();
    $("#chat-view").hidden = true;
    $("#join-view").hidden = false;
  }

  $("#join-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const nickname = $("#nickname").value.trim();
    const room = $("#room").value.trim();
    localStorage.setItem("nickname", nickname);
    show($("#join-error"), "");
    join(room, nickname);
  });

  $("#leave").addEventListener("click", leave);

  $("#say-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("#text");
    const text = input.value;
    input.value = "";
    show($("#chat-error"), "");
    // While offline the client buffers the event and sends it after reconnecting. With
    // timeout(), the callback's first argument is the client's own error (no answer in time);
    // then comes on_say's return value, or {error} if it raised.
    socket.timeout(SAY_TIMEOUT_MS).emit("say", { text }, (timedOut, reply) => {
      const error = timedOut || reply.error;
      if (error) show($("#chat-error"), `Not sent: ${errorText(error)}`);
    });
  });

  $("#text").addEventListener("input", () => {
    const now = Date.now();
    if (socket && socket.connected && now - lastTyping > TYPING_EVERY_MS) {
      lastTyping = now;
      socket.emit("typing");
    }
  });

  $("#nickname").value = localStorage.getItem("nickname") || "";
  if (location.hash.length > 1) $("#room").value = decodeURIComponent(location.hash.slice(1));
})();
