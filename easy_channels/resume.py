"""
:class:`Resumption`: the recovery of one socket of a consumer with ``recovery = True``.

At connect it reads the session the client names in its URL (``ec_session``, and ``ec_pos``:
the position it read each group up to), rejoins that session's groups and fetches what they
were sent meanwhile; after accept, the client gets ``{"event": "_session", ...}`` and then the
missed messages, in the order they were sent, before any newer one. While the socket is open
its groups are kept in the store; a drop leaves the session for ``WINDOW`` seconds, a clean
close ends it. docs/protocol.md describes the wire side.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import logging
import secrets
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs

from .backends import backend_for
from .layer import bounded
from .outgoing import CALL_TYPE, CLOSE_TYPE, FRAME_TYPE
from .protocol import SESSION_EVENT
from .recovery import POSITION_KEY, Saved, Store, position_time, store_for

if TYPE_CHECKING:
    from .session import Session
    from .wire import WireCodec

__all__ = ["Resumption", "frame_with_position"]

logger = logging.getLogger("easy_channels")

T = TypeVar("T")

#: What a store call is called in the log line of a layer outage.
_WHAT = "a recovery session"

#: Close codes of a client that ended its session on purpose (nothing is replayed after).
#: Not 1005 ("no code"): uvicorn reports a connection lost without a close frame as 1005.
CLEAN_CLOSE_CODES = frozenset({1000})
#: Most groups a client's ``ec_pos`` may name.
MAX_POSITIONS = 256


def frame_with_position(text: str, position: list[str]) -> str:
    """A pre-encoded frame with its position as ``"_pos"``, first after ``event``'s brace."""
    global _last
    last_text, last_position, framed = _last
    if last_text is text and last_position is position:
        return framed  # the next member of the same group message: made once, not per member
    encoded = json.dumps(position, separators=(",", ":"))
    framed = f'{{"{POSITION_KEY}":{encoded},{text[1:]}'
    _last = (text, position, framed)
    return framed


#: The last message frame_with_position made: (its text, its position, the frame).
_last: tuple[str, list[str], str] = ("", [], "")


def _parse_positions(text: str) -> dict[str, str]:
    """``room@1733068800123-9f2c4a1b,other@...`` -> {group: position}, bounded."""
    positions: dict[str, str] = {}
    for item in text.split(",")[:MAX_POSITIONS]:
        group, _, position = item.rpartition("@")
        if group and position_time(position):
            positions[group] = position
    return positions


class Resumption:
    """See the module docstring; made by a consumer's session when the socket connects."""

    __slots__ = (
        "early",
        "highest",
        "layer",
        "limit",
        "offsets",
        "recovered",
        "repeats_up_to",
        "replay",
        "saved",
        "seen",
        "sid",
        "store",
    )

    def __init__(self, store: Store, sid: str, saved: Saved, layer: Any, limit: float):
        self.store = store
        self.layer = layer
        self.limit = limit  # LAYER_TIMEOUT: every store call is a layer call
        self.sid = sid
        self.saved = saved
        self.recovered = False
        #: The missed layer messages, oldest first, until they are sent after accept.
        self.replay: list[dict[str, Any]] = []
        #: Positions replayed: the same message arriving live is not sent again.
        self.seen: set[str] = set()
        #: While resuming: positions that arrived live (sent before the replay, not in it).
        self.early: set[str] | None = set()
        #: Request ids that may be repeats, asked again after the reconnect: none for a new
        #: session; up to the last socket's highest integer id (or all: -1 for "unknown").
        self.repeats_up_to: int | None = None
        self.highest: int | None = None  # the highest integer request id of this socket
        #: Over Socket.IO: group -> the position this socket was sent up to (its offset).
        self.offsets: dict[str, str] = {}

    @classmethod
    async def start(cls, session: Session, layer: Any) -> Resumption | None:
        """
        The recovery of ``session``'s socket (None on a layer that can't keep one): the
        session the client asks to resume, back in its groups with what they missed, if it can
        be (same consumer and path, same user, nothing trimmed); else a new one.
        """
        store = store_for(layer)
        if store is None:  # reported by check easy_channels.E010
            return None
        consumer, recipient = session.consumer, session.recipient
        scope = consumer.scope
        owner = f"{type(consumer).__module__}.{type(consumer).__qualname__}:{scope.get('path')}"
        socketio = scope.get("socketio")
        if socketio is not None:  # Socket.IO's connection state recovery: in CONNECT's auth
            asked = str(consumer.auth.get("pid") or "")[:64]
            offset = consumer.auth.get("offset")
            read = offset if isinstance(offset, str) else ""
        else:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            asked = (query.get("ec_session") or [""])[0][:64]
            read = (query.get("ec_pos") or [""])[0]
        user = scope.get("user")
        pk = str(user.pk) if user is not None and getattr(user, "is_authenticated", False) else None
        limit = session.config.layer_timeout
        saved = await bounded(layer, store.load(asked), _WHAT, limit) if asked else None
        if saved is not None and (saved.owner != owner or saved.user != pk):
            logger.info("easy_channels: session %s can't resume at %s for this user", asked, owner)
            saved = None
        resumption = (
            cls(store, asked, saved, layer, limit)
            if saved is not None
            else cls.new(store, owner, pk, layer, limit)
        )
        # Live messages of the groups rejoined now come to it (see live()) while it fetches.
        session.resumption = session.dispatcher.once = resumption
        if saved is not None:
            already = set(recipient.groups)
            rejoined = [group for group in saved.groups if group not in already]
            for group in rejoined:
                await session.join(group)
            await backend_for(layer).settled(list(saved.groups))
            positions = _parse_positions(read)
            # A Socket.IO client keeps the last string argument of any event as its offset:
            # one that is not ours (an event of the app's ended with a string) can't resume.
            readable = not read or bool(positions) or socketio is None
            if readable and await resumption.fetch(positions):
                resumption.offsets = {**dict(saved.groups), **positions}
                resumption.recovered = True
                up_to = saved.acks_up_to
                resumption.repeats_up_to = -1 if up_to is None else up_to
                saved.acks_up_to = None  # unknown again until this socket drops (a SIGKILL)
            else:  # a fresh session, in the groups the new socket has joined itself
                await resumption.call(store.end(asked, saved))
                fresh = cls.new(store, owner, pk, layer, limit)
                session.resumption = session.dispatcher.once = fresh
                for group in rejoined:
                    await session.leave(group)
                resumption = fresh
        resumption.early = None
        resumption.saved.channels.append(recipient.channel_name or "")
        new = [group for group in recipient.groups if group not in resumption.saved.groups]
        await resumption.call(store.save(resumption.sid, resumption.saved, new))
        consumer.recovered = resumption.recovered
        if socketio is not None:
            socketio["pid"] = resumption.sid  # the CONNECT reply carries it
            resumption.offsets.update(
                (g, p) for g, p in resumption.saved.groups.items() if g not in resumption.offsets
            )
        session.connection.prelude = resumption.prelude(session.connection.codec, socketio)
        return resumption

    @classmethod
    def new(
        cls, store: Store, owner: str, user: str | None, layer: Any, limit: float
    ) -> Resumption:
        """A new session (its id unguessable: it is what lets a client resume it)."""
        return cls(store, secrets.token_urlsafe(18), Saved(owner, user), layer, limit)

    async def call(self, awaitable: Awaitable[T]) -> T:
        """A store call, bounded like every layer call (LayerUnavailable past LAYER_TIMEOUT)."""
        result: T = await bounded(self.layer, awaitable, _WHAT, self.limit)
        return result

    async def fetch(self, positions: dict[str, str]) -> bool:
        """What the session's groups were sent after what the client read; False: a gap."""
        missed: list[list[tuple[int, dict[str, Any]]]] = []
        for group, joined_at in self.saved.groups.items():
            after = positions.get(group, joined_at)
            entries = await self.call(self.store.since(group, after))
            if entries is None:
                logger.info("easy_channels: session %s missed messages of %r", self.sid, group)
                return False
            kept = []
            early = self.early or ()
            for position, message in entries:
                if message.get("type") == CLOSE_TYPE:
                    return False  # the socket was closed meanwhile: the session ended there
                if position in early:
                    continue  # it came live while this fetched: sent already
                self.seen.add(position)
                if message.get("exclude") not in self.saved.channels:
                    kept.append((position_time(position), message))
            missed.append(kept)
        # In the order sent across groups; each group's own order as its history has it.
        merged = heapq.merge(*missed, key=lambda entry: entry[0])
        self.replay = [message for _, message in merged]
        return True

    def prelude(self, codec: WireCodec, socketio: dict[str, Any] | None) -> list[str]:
        """
        The frames sent right after accept: the session frame (over Socket.IO, the CONNECT
        reply's ``pid`` says it instead), then the missed frames.
        """
        texts = []
        if socketio is None:
            frame = {"event": SESSION_EVENT, "id": self.sid, "recovered": self.recovered}
            texts.append(json.dumps(frame, separators=(",", ":")))
        for message in self.replay:
            if message.get("type") == FRAME_TYPE:
                text = self.positioned(message, codec)
                if text is not None:  # else a payload only Socket.IO carries: never sent
                    texts.append(text)
        return texts

    def positioned(self, message: dict[str, Any], codec: WireCodec) -> str | None:
        """
        A group frame with its position: ``"_pos"`` in the JSON protocol; over Socket.IO, an
        offset as the last argument, which says how far this socket has read every group
        (the official clients keep the last one and send it back to resume).
        """
        position = message[POSITION_KEY]
        if not codec.recovery_offset:
            text = message.get("text")  # None: a payload only Socket.IO carries
            return None if text is None else frame_with_position(text, position)
        offsets = self.offsets
        offsets.pop(position[0], None)
        offsets[position[0]] = position[1]  # the latest last: the first ones go when too many
        while len(offsets) > MAX_POSITIONS:
            offsets.pop(next(iter(offsets)))
        offset = ",".join(f"{group}@{at}" for group, at in offsets.items())
        return codec.relay_with_offset(message, offset)

    def calls(self) -> list[dict[str, Any]]:
        """The missed server-side calls (group_call_event), run after accept."""
        calls = [message for message in self.replay if message.get("type") == CALL_TYPE]
        self.replay = []
        return calls

    def live(self, message: dict[str, Any]) -> bool:
        """Whether a group message arriving now is new (not one the replay had)."""
        if self.early is not None:  # still resuming: the replay will leave it out
            self.early.add(message[POSITION_KEY][1])
            return True
        if not self.seen:
            return True
        position = message[POSITION_KEY][1]
        if position in self.seen:
            self.seen.discard(position)
            return False
        return True

    # -- requests answered once -------------------------------------------------------------

    async def request(self, ack: Any) -> str | None:
        """
        None for a request id the session hasn't seen (now noted as running); else its answer,
        or "" while its first run goes on. Only a resumed socket's requests are looked up, and
        only ids its predecessor may have had; the others are noted without waiting.
        """
        key = json.dumps(ack)
        integer = isinstance(ack, int)
        if integer and (self.highest is None or ack > self.highest):
            self.highest = ack
        up_to = self.repeats_up_to
        if up_to is None or (integer and up_to >= 0 and ack > up_to):
            self.store.note_begin(self.sid, key)
            return None
        return await self.call(self.store.ack_begin(self.sid, key))

    async def wait(self, ack: Any, limit: float) -> str:
        """The answer of a request whose first run is still going on ("" if none comes)."""
        loop = asyncio.get_running_loop()
        deadline, delay = loop.time() + limit, 0.02
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)
            answer = await self.call(self.store.ack_begin(self.sid, json.dumps(ack)))
            if answer:
                return answer
        return ""

    async def answered(self, ack: Any, text: str) -> None:
        """
        Keep a request's answer, without waiting: a repeat that comes before it is written
        finds the request running, and waits for the answer (see :meth:`wait`).
        """
        self.store.note_done(self.sid, json.dumps(ack), text)

    # -- the session's groups ----------------------------------------------------------------

    async def joined(self, group: str) -> None:
        if self.early is None and group not in self.saved.groups:
            await self.call(self.store.save(self.sid, self.saved, [group]))

    async def left(self, group: str) -> None:
        if self.early is None and group in self.saved.groups:
            self.store.left(self.saved, group)
            await self.call(self.store.save(self.sid, self.saved))

    async def finish(self, code: int | None, channel: str | None) -> None:
        """The socket ended: a drop keeps the session ``WINDOW`` seconds, a clean close ends it."""
        if channel is not None and channel not in self.saved.channels:
            self.saved.channels.append(channel)
        if code is None or code in CLEAN_CLOSE_CODES:
            await self.call(self.store.end(self.sid, self.saved))
        else:
            # Requests the next socket may ask again: this one's, and its predecessor's if they
            # were not asked again here yet (unknown stays unknown: all are looked up).
            before = self.repeats_up_to
            self.saved.acks_up_to = None if before == -1 else max(self.highest or 0, before or 0)
            await self.call(self.store.away(self.sid, self.saved))
