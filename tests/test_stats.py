"""Counters: easy_channels.stats() in the process, manage.py easy_channels_stats across them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid

import pytest
from channels.layers import get_channel_layer
from websockets.asyncio.client import connect

from easy_channels import JSONWebSocket, stats
from easy_channels.processes import acollect_stats
from easy_channels.testing import SocketCommunicator
from tests.conftest import REDIS_URL, require_redis
from tests.liveserver import ROOT, SCALEOUT_SETTINGS, scaleout_server


class Counted(JSONWebSocket):
    def on_echo(self, payload):
        return payload


async def test_stats_count_sockets_messages_errors_and_refusals():
    before = stats()
    comm = SocketCommunicator(Counted, "/ws/")
    assert await comm.connect()
    assert await comm.request("echo", x=1) == {"x": 1}
    await comm.send_to(text_data="not json")
    await comm.receive_from()
    now = stats()
    assert now["sockets_open"] == before["sockets_open"] + 1
    assert now["sockets_accepted"] == before["sockets_accepted"] + 1
    assert now["messages_in"] == before["messages_in"] + 2
    assert now["messages_out"] == before["messages_out"] + 2
    assert now["errors"]["invalid_json"] == before["errors"].get("invalid_json", 0) + 1
    # The in-memory layer reaches this process's responder.
    [reply] = await acollect_stats(get_channel_layer(), wait=0.3)
    assert reply["process"].endswith(f":{os.getpid()}")
    assert reply["sockets_open"] == now["sockets_open"]
    await comm.disconnect()
    assert stats()["sockets_open"] == before["sockets_open"]
    json.dumps(stats())  # JSON-ready


@pytest.mark.redis
@pytest.mark.timeout(90)
async def test_the_command_reports_every_server_process(tmp_path):
    require_redis()
    prefix = f"stats{uuid.uuid4().hex[:8]}"
    env = {"SCALEOUT_PREFIX": prefix, "SCALEOUT_HOSTS": REDIS_URL}
    with (
        scaleout_server("uvicorn", env) as one,
        scaleout_server("daphne", env) as two,
    ):
        origin = "http://127.0.0.1"
        async with (
            connect(f"{one.ws}/ws/room/?name=a", origin=origin) as a,
            connect(f"{one.ws}/ws/room/?name=b", origin=origin) as b,
            connect(f"{two.ws}/ws/room/?name=c", origin=origin) as c,
        ):
            for ws in (a, b, c):  # an answered frame: each socket is connected and counted
                await ws.send(json.dumps({"event": "whoami", "ack": 1}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["event"] == "ack"
            command = [sys.executable, "-m", "django", "easy_channels_stats", "--wait", "2"]
            full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": SCALEOUT_SETTINGS, **env}
            result = await asyncio.to_thread(
                subprocess.run,
                [*command, "--json"],
                cwd=ROOT,
                env=full_env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
            replies = json.loads(result.stdout)
            assert sorted(r["sockets_open"] for r in replies) == [1, 2]
            assert {r["process"].rsplit(":", 1)[1] for r in replies} == {
                str(one.proc.pid),
                str(two.proc.pid),
            }
            text = await asyncio.to_thread(
                subprocess.run, command, cwd=ROOT, env=full_env, capture_output=True, text=True
            )
            assert "total (2 processes)" in text.stdout
            assert "sockets_open:     3" in text.stdout


def test_the_command_explains_an_empty_answer():
    result = subprocess.run(
        [sys.executable, "-m", "django", "easy_channels_stats", "--wait", "0.2"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "No server process answered" in result.stdout
