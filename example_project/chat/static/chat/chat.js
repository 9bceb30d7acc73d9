/*
 * The chat page, on top of the easy_channels browser client (global `EasyChannels`).
 * Everything is written with textContent: chat text is never parsed as HTML.
 */
(function () {
  "use strict";

  const $ = (selector) => document.querySelector(selector);
  const TYPING_SHOWN_MS = 3000;
  const TYPING_EVERY_MS = 1500;

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
    const path = `/ws/chat/${encodeURIComponent(room)}/?nickname=${encodeURIComponent(nickname)}`;
    socket = EasyChannels.connect(path, { reconnectDelay: 500, reconnectDelayMax: 5000 });

    socket.on("connect", async () => {
      setStatus("online");
      show($("#chat-error"), "");
      try {
        for (const message of await socket.request("history")) addMessage(message);
      } catch (error) {
        show($("#chat-error"), `Could not load the history: ${error.message}`);
      }
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
    socket.on("reconnecting", ({ attempt, delay }) => {
      setStatus("reconnecting", `reconnecting (attempt ${attempt}, in ${Math.round(delay)} ms)`);
    });
    socket.on("disconnect", ({ willReconnect }) => {
      if (!willReconnect) setStatus("offline");
    });
    socket.on("connect_error", ({ message }) => {
      // The server refused the socket (see on_connect): back to the form, with its reason.
      leave();
      show($("#join-error"), `Could not join: ${message}`);
    });
    socket.on("error", ({ message }) => show($("#chat-error"), message));
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

  $("#say-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("#text");
    const text = input.value;
    input.value = "";
    show($("#chat-error"), "");
    try {
      // While offline the client buffers the request and sends it after reconnecting.
      await socket.request("say", { text }, { timeout: 30000 });
    } catch (error) {
      const details = error.details && error.details.text ? ` ${error.details.text.join(" ")}` : "";
      show($("#chat-error"), `Not sent: ${error.message}${details}`);
    }
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
