"""
Fan-out members in worker processes, for groups too big for one client process.

One asyncio process reading 500 or more sockets saturates its core (``client_cpu`` near 1.0 in
the tables) before some servers do, and the benchmark then measures the client. Past
:data:`MEMBERS_PER_PROCESS` members, :func:`load.fanout` opens them in several processes
(:class:`Members`): each joins its share to the group and reports, for every broadcast, the
moment its last member had it (``time.perf_counter``: CLOCK_MONOTONIC, one clock for every
process on the machine). The broadcasting socket stays in the harness. At the end every
process checks that each of its members got every broadcast once and in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
import types
from multiprocessing.connection import Connection
from typing import Any

from .servers import Server, cpu_seconds

#: Members one client process reads at most (one process is enough below this).
MEMBERS_PER_PROCESS = 250
#: Client processes at most (they share the machine with the server under test).
MAX_PROCESSES = max(2, os.cpu_count() or 2)


def processes_for(members: int) -> int:
    """How many client processes read ``members`` sockets (1: the harness itself)."""
    if members < 2 * MEMBERS_PER_PROCESS:
        return 1
    return min(MAX_PROCESSES, -(-members // MEMBERS_PER_PROCESS))


class Members:
    """``members`` sockets of ``group``, split over worker processes; see the module."""

    def __init__(self, server: Server, members: int, group: str, processes: int):
        self.members, self.processes = members, processes
        context = multiprocessing.get_context("spawn")  # no inherited event loop or sockets
        shares = [members // processes + (i < members % processes) for i in range(processes)]
        self.pipes: list[Connection] = []
        self.workers = []
        for share in shares:
            mine, theirs = context.Pipe()
            worker = context.Process(
                target=_work,
                args=(server.url, server.spec.codec, share, group, theirs),
                daemon=True,
            )
            worker.start()
            theirs.close()
            self.pipes.append(mine)
            self.workers.append(worker)
        self.pending: dict[int, list[Any]] = {}  # seq -> [processes left, future, last time]

    async def ready(self, limit: float = 120.0) -> None:
        """Wait until every process has its members joined."""
        for pipe in self.pipes:
            reply = await self._recv(pipe, limit)
            if reply[0] != "ready":
                raise RuntimeError(f"a member process failed to join: {reply[1]}")
        loop = asyncio.get_running_loop()
        for pipe in self.pipes:
            loop.add_reader(pipe.fileno(), self._on_report, pipe)

    def expect(self, seq: int) -> asyncio.Future:
        """A future set to the time the last member (of every process) had broadcast ``seq``."""
        future = asyncio.get_running_loop().create_future()
        self.pending[seq] = [self.processes, future, 0.0]
        return future

    def reached(self, seq: int) -> str:
        left = self.pending[seq][0]
        return f"{self.processes - left}/{self.processes} member processes"

    def _on_report(self, pipe: Connection) -> None:
        while pipe.poll():
            kind, seq, when = pipe.recv()
            entry = self.pending.get(seq)
            if kind != "done" or entry is None:
                continue
            entry[0] -= 1
            entry[2] = max(entry[2], when)
            if entry[0] == 0 and not entry[1].done():
                entry[1].set_result(entry[2])

    def cpu(self) -> float:
        """CPU seconds the member processes have used so far."""
        return sum(cpu_seconds(worker.pid) for worker in self.workers)

    async def check(self, sent: list[int], limit: float = 60.0) -> None:
        """Every member got every broadcast once, in order (raises MeasurementError)."""
        from .load import MeasurementError

        loop = asyncio.get_running_loop()
        for pipe in self.pipes:
            loop.remove_reader(pipe.fileno())
            pipe.send(("check", sent))
        problems = []
        for pipe in self.pipes:
            while True:
                reply = await self._recv(pipe, limit)
                if reply[0] == "checked":
                    break
            if reply[1]:
                problems.append(reply[1])
        if problems:
            raise MeasurementError("; ".join(problems))

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        for pipe in self.pipes:
            loop.remove_reader(pipe.fileno())
            with contextlib.suppress(OSError):  # the process is gone already
                pipe.send(("stop", None))
        for worker in self.workers:
            await asyncio.to_thread(worker.join, 15)
            if worker.is_alive():
                worker.kill()
                await asyncio.to_thread(worker.join, 5)
        for pipe in self.pipes:
            pipe.close()

    @staticmethod
    async def _recv(pipe: Connection, limit: float) -> Any:
        if not await asyncio.to_thread(pipe.poll, limit):
            raise TimeoutError(f"no word from a member process in {limit:g}s")
        return pipe.recv()


# -- in the worker process -------------------------------------------------------------------


def _work(url: str, codec: str, members: int, group: str, pipe: Connection) -> None:
    # uvloop, as in the harness: the members' reads are the load generator's biggest cost.
    try:
        import uvloop
    except ImportError:  # pragma: no cover (the bench extra installs it with uvicorn)
        asyncio.run(_members(url, codec, members, group, pipe))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_members(url, codec, members, group, pipe))


async def _members(url: str, codec: str, members: int, group: str, pipe: Connection) -> None:
    from .load import close_all, join_group

    server: Any = types.SimpleNamespace(url=url, spec=types.SimpleNamespace(codec=codec))
    try:
        sockets, tally = await join_group(server, members, group)
    except Exception as exc:
        pipe.send(("failed", repr(exc), 0.0))
        return
    loop = asyncio.get_running_loop()
    # Report each broadcast when the last of this process's members has it: the tally
    # resolves a future per broadcast; one waits for the next of them at a time.
    tally.expect(0)
    tally_next = [0]

    def on_done(future: asyncio.Future) -> None:
        seq = tally_next[0]
        pipe.send(("done", seq, future.result()))
        tally_next[0] = seq + 1
        tally.expect(seq + 1).add_done_callback(on_done)

    tally.pending[0][1].add_done_callback(on_done)
    pipe.send(("ready", None, time.perf_counter()))
    commands: asyncio.Queue[Any] = asyncio.Queue()
    loop.add_reader(pipe.fileno(), lambda: commands.put_nowait(pipe.recv()))
    try:
        while True:
            kind, data = await commands.get()
            if kind == "check":
                try:
                    tally.check(data)
                    problem = None
                except Exception as exc:
                    problem = str(exc)
                pipe.send(("checked", problem, 0.0))
            elif kind == "stop":
                break
    finally:
        loop.remove_reader(pipe.fileno())
        await close_all(sockets)
