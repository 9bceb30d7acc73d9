"""
``--profile``: where an easy_channels server spends its time during a fan-out.

Two looks at the same load (easy_channels/uvicorn, in-memory layer, one group, one broadcast
at a time):

- py-spy samples the running server from outside (no code change, little overhead) during the
  measured window only, and only the thread holding the GIL (``--gil``): percentages are of
  the time Python ran, whichever thread. Idle worker threads and the event loop's wait in
  epoll are left out. Raw collapsed stacks are kept (open them in https://www.speedscope.app).
- pyinstrument runs inside a second server, started and stopped by SIGUSR1/SIGUSR2 around the
  same window (see ``apps/profiler_hooks.py``), for a call tree.

The summary (components, top functions) is printed and goes to the "Where the time goes"
section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from . import load
from .document import source_fingerprint
from .report import LAYER_LABEL, Table
from .servers import Pool

_FRAME = re.compile(r"^(?P<name>.*) \((?P<path>[^()]*?)(?::\d+)?\)$")


def _py_spy() -> str:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else (shutil.which("py-spy") or "py-spy")


class PySpy:
    """``py-spy record`` of one pid, started and stopped around the measured window."""

    def __init__(self, pid: int, out: Path, rate: int = 250):
        self.pid, self.out, self.rate = pid, out, rate
        self.proc: subprocess.Popen | None = None
        self.log = out.with_suffix(".log")

    def start(self) -> None:
        # py-spy sometimes fails to read the interpreter version on its first try: retry.
        for _ in range(5):
            with open(self.log, "w") as log:
                self.proc = subprocess.Popen(
                    [_py_spy(), "record", "-p", str(self.pid), "-r", str(self.rate), "--gil",
                     "-f", "raw", "--function", "-o", str(self.out)],
                    stdout=log, stderr=subprocess.STDOUT,
                )  # fmt: skip
            try:
                self.proc.wait(0.5)
            except subprocess.TimeoutExpired:
                return  # sampling
        raise RuntimeError(f"py-spy could not attach: {self.log.read_text()[-500:]}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl+C
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _short(path: str) -> str:
    """py-spy names files relative to their sys.path entry; shorten absolute ones alike."""
    for marker in ("site-packages/", f"/lib/python{sys.version_info[0]}.{sys.version_info[1]}/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


#: Files of the frames every sample starts with (process start-up, the event loop's run).
_BOOTSTRAP = {
    "asyncio/runners.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
    "uvicorn/__main__.py",
    "uvicorn/main.py",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
}


def _component(name: str, path: str) -> str:
    path = _short(path)
    if name == "Runner.run" and path == "asyncio/runners.py":
        # uvloop's loop is C code: py-spy charges its own work (polling, callbacks, socket
        # writes it does itself) to the Python frame that called it.
        return "uvloop event loop (C, shown as Runner.run)"
    if path.startswith("<frozen"):
        return "stdlib (frozen)"
    top = path.split("/", 1)[0].removesuffix(".py")
    if top in sys.stdlib_module_names:
        return f"stdlib {top}"
    return top or "?"


def summarise_pyspy(raw: Path, top: int = 15) -> tuple[list[Table], int]:
    stacks: list[tuple[list[tuple[str, str]], int]] = []
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = []
        for frame in stack.split(";"):
            m = _FRAME.match(frame)
            frames.append((m.group("name"), m.group("path")) if m else (frame, ""))
        stacks.append((frames, int(count)))
    total = sum(n for _, n in stacks)
    if not total:
        return [], 0
    by_component: Counter = Counter()
    self_time: Counter = Counter()
    inclusive: Counter = Counter()
    for frames, n in stacks:
        leaf = frames[-1]
        by_component[_component(*leaf)] += n
        self_time[leaf] += n
        for frame in set(frames):
            inclusive[frame] += n

    def pct(n: int) -> str:
        return f"{100 * n / total:.1f}%"

    comp = Table("By component (self time)", ["component", "share of samples"])
    for name, n in by_component.most_common(12):
        comp.add(name, pct(n))
    selft = Table("Top functions by self time", ["function", "file", "self"])
    for (name, path), n in self_time.most_common(top):
        selft.add(f"`{name}`", _short(path), pct(n))
    incl = Table(
        "Top functions by inclusive time (below the event loop)", ["function", "file", "incl."]
    )
    shown = 0
    for (name, path), n in inclusive.most_common():
        if _short(path) in _BOOTSTRAP or path.startswith(("click/", "<frozen")):
            continue  # the event loop itself and the frames (uvicorn.main...) below it
        incl.add(f"`{name}`", _short(path), pct(n))
        shown += 1
        if shown >= top + 5:
            break
    return [comp, selft, incl], total


async def run(
    pool: Pool, out_dir: Path, members: int = 500, duration: float = 8.0, layer: str = "memory"
) -> str:
    """Profile a fan-out to ``members``; return the Markdown body of the docs' profile block."""
    lines: list[str] = []
    # -- py-spy -------------------------------------------------------------------------------
    raw = out_dir / f"pyspy-fanout{members}-{layer}.txt"
    server = pool.new("ec-uvicorn", layer, "profile-pyspy")
    spy = PySpy(server.pid, raw)
    try:
        sample = await load.fanout(
            server, members, "prof", duration, on_measure=(spy.start, spy.stop)
        )
    finally:
        spy.stop()
        server.stop()
    tables, samples = summarise_pyspy(raw)
    print(
        f"\npy-spy: {samples} busy samples; {sample.value:,.0f} deliveries/s while sampled; "
        f"server CPU {100 * sample.extra['server_cpu']:.0f}% of a core "
        f"({100 * sample.extra['server_sys_share']:.0f}% of it kernel); raw stacks: {raw}"
    )
    for table in tables:
        print("\n" + table.text())
    lines += [
        f"Profiled on {time.strftime('%Y-%m-%d')} with `python -m benchmarks --profile`: "
        f"easy_channels/uvicorn, {LAYER_LABEL[layer]} layer, {members} members, one broadcast "
        "at a time "
        f"for {duration:g} s. While sampled: {sample.value:,.0f} deliveries/s, "
        f"{sample.extra['cpu_us']:.1f} µs of server CPU per delivery, the server process busy "
        f"{100 * sample.extra['server_cpu']:.0f}% of one core, "
        f"{100 * sample.extra['server_sys_share']:.0f}% of that in the kernel (stime). "
        f"easy_channels: {source_fingerprint()}.",
        "",
        f"py-spy (`record --gil --function`, 250 Hz: {samples} samples of the thread holding the "
        "GIL; waiting in epoll is not sampled, so percentages are of busy time):",
        "",
    ]
    for table in tables:
        lines += [table.markdown(), ""]
    # -- pyinstrument ----------------------------------------------------------------------------
    base = out_dir / f"pyinstrument-fanout{members}-{layer}"
    server = pool.new(
        "ec-uvicorn",
        layer,
        "profile-pyinstrument",
        extra_env={"BENCH_PYINSTRUMENT": str(base)},
    )
    try:
        await load.fanout(
            server,
            members,
            "prof",
            duration,
            on_measure=(
                lambda: server.signal(signal.SIGUSR1),
                lambda: server.signal(signal.SIGUSR2),
            ),
        )
        text_path = base.with_suffix(".txt")
        deadline = time.monotonic() + 20
        while not text_path.exists() and time.monotonic() < deadline:  # noqa: ASYNC110 (another process writes it)
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # let it finish writing
    finally:
        server.stop()
    if text_path.exists():
        tree = _trim_tree(text_path.read_text())
        print(f"\npyinstrument call tree (trimmed; full: {base}.html):\n{tree}")
        lines += [
            "<details><summary>pyinstrument call tree (a second server, same load; trimmed "
            "to the frames above 1.5% of the window)</summary>",
            "",
            "```text",
            tree,
            "```",
            "",
            "</details>",
        ]
    else:
        lines.append(f"(pyinstrument wrote no report; see {server.log_path})")
    return "\n".join(lines) + "\n"


def _trim_tree(text: str, min_pct: float = 1.5, max_lines: int = 70) -> str:
    """pyinstrument's text tree without the frames under ``min_pct`` of the total."""
    lines = text.splitlines()
    total = None
    out = []
    for line in lines:
        m = re.match(r"^[\s|`\-─│├└]*([\d.]+) ", line)
        if m is None:
            if line.strip() and not out:
                out.append(line)  # the header
            continue
        value = float(m.group(1))
        if total is None:
            total = value or 1.0
        if 100 * value / total >= min_pct:
            out.append(line.rstrip())
        if len(out) >= max_lines:
            out.append("...")
            break
    return "\n".join(out)
