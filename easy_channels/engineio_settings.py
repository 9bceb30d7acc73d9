"""
:class:`EngineSettings`: the heartbeat and size limit of an Engine.IO server, from
``EASY_CHANNELS["SOCKETIO"]``, and the handshake that announces them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .engineio_packets import OPEN

__all__ = ["EngineSettings"]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """The heartbeat and size limit of a server (EASY_CHANNELS["SOCKETIO"], in seconds)."""

    ping_interval: float
    ping_timeout: float
    max_payload: int
    #: Seconds a channel layer call may take (LAYER_TIMEOUT), for relayed polls.
    relay_limit: float = 3.0

    @classmethod
    def from_config(cls) -> EngineSettings:
        from .conf import get_config

        config = get_config()
        sio = config.socketio
        return cls(
            float(sio["PING_INTERVAL"]),
            float(sio["PING_TIMEOUT"]),
            int(sio["MAX_PAYLOAD"]),
            float(config.layer_timeout),
        )

    def open_packet(self, sid: str, upgrades: list[str]) -> str:
        """The handshake, with the timings in milliseconds (sub-second values kept exact)."""
        return OPEN + json.dumps(
            {
                "sid": sid,
                "upgrades": upgrades,
                "pingInterval": round(self.ping_interval * 1000),
                "pingTimeout": round(self.ping_timeout * 1000),
                "maxPayload": self.max_payload,
            },
            separators=(",", ":"),
        )
