"""
Tables (plain text for the terminal, Markdown for docs/benchmarks.md) and charts.

Medians are taken across repetitions. Ratios are taken *within* each repetition (server A's
number over server B's from the same repetition, measured minutes apart at most) and then the
median of those is reported: drift of a shared machine cancels out of a ratio.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .servers import SPECS
from .suite import Config, Result

#: (numerator, denominator) pairs of the ratio tables.
RATIO_PAIRS = [
    ("ec-uvicorn", "socketio"),
    # The same protocol on both sides: easy_channels serving Socket.IO, against python-socketio.
    ("ec-sio", "socketio"),
    ("ec-uvicorn", "channels"),
    ("ec-daphne", "socketio"),
    ("ec-daphne", "channels"),
    ("ec-uvicorn", "websockets"),
    # What recovery costs: the same load with recovery = True, against it off.
    ("ec-recovery", "ec-uvicorn"),
    # What presence costs: the same load with every member tracked (presence_add).
    ("ec-presence", "ec-uvicorn"),
    # With --baseline: this commit against an earlier one, and the earlier one's own ratios.
    ("ec-uvicorn", "ec-baseline"),
    ("ec-baseline", "socketio"),
    ("ec-baseline", "channels"),
]
SHORT = {
    "ec-uvicorn": "ec/uvicorn",
    "ec-sio": "ec/Socket.IO",
    "ec-recovery": "ec+recovery",
    "ec-presence": "ec+presence",
    "ec-daphne": "ec/daphne",
    "channels": "Channels",
    "socketio": "socketio",
    "websockets": "websockets",
    "ec-baseline": "ec@baseline",
}
LAYER_LABEL = {"memory": "in-memory", "redis": "Redis", "pubsub": "Redis pub/sub"}
DASH = "—"
#: Cells that right-align: numbers, ratios, percentages, "k/n", "(stalled)" and the like.
_NUMERIC = re.compile(r"[\d,.%x/()\[\] —-]*(\(stalled\))?|[\d.]+ KiB|\d+ left")


def _median(values: Iterable[float]) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return DASH
    return f"{value:,.{digits}f}"


class Table:
    def __init__(self, title: str, headers: list[str], note: str = ""):
        self.title, self.headers, self.note = title, headers, note
        self.rows: list[list[str]] = []

    def add(self, *cells: Any) -> None:
        self.rows.append([str(c) for c in cells])

    def text(self) -> str:
        widths = [
            max(len(r[i]) for r in [self.headers, *self.rows]) for i in range(len(self.headers))
        ]

        def line(cells: list[str]) -> str:
            first = cells[0].ljust(widths[0])
            return "  ".join(
                [first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))]
            )

        out = [self.title, line(self.headers), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in self.rows]
        if self.note:
            out.append(self.note)
        return "\n".join(out)

    def markdown(self) -> str:
        def numeric(i: int) -> bool:
            return all(_NUMERIC.fullmatch(r[i]) for r in self.rows)

        def cell(text: str) -> str:  # "<string>" would vanish as an HTML tag
            return text if text.startswith("`") else text.replace("<", "&lt;")

        align = [":---"] + ["---:" if numeric(i) else ":---" for i in range(1, len(self.headers))]
        out = [f"**{self.title}**", ""]
        out.append("| " + " | ".join(self.headers) + " |")
        out.append("|" + "|".join(align) + "|")
        out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in self.rows]
        if self.note:
            out += ["", self.note]
        return "\n".join(out)


class Summary:
    """Results indexed for the tables: ``runs[(load, size, layer, server)] -> {rep: Result}``."""

    def __init__(self, results: list[Result], config: Config):
        self.config = config
        self.results = results
        self.runs: dict[tuple, dict[int, Result]] = defaultdict(dict)
        for r in results:
            self.runs[(r.load, r.size, r.layer, r.server)][r.rep] = r
        self.servers = [k for k in SPECS if k in config.servers]

    def ok(self, load: str, size: int, layer: str, server: str) -> list[Result]:
        return [
            r
            for r in self.runs.get((load, size, layer, server), {}).values()
            if r.error is None and r.value is not None
        ]

    def cell(self, load: str, size: int, layer: str, server: str, key: str = "value", digits=0):
        runs = self.runs.get((load, size, layer, server))
        if not runs:
            return ""  # not measured (server doesn't run on this layer, or not selected)
        good = self.ok(load, size, layer, server)
        value = _median(r.value if key == "value" else r.extra.get(key) for r in good)
        text = _fmt(value, digits)
        if len(good) < len(runs):
            text += f" ({len(good)}/{len(runs)})"
        return text

    def ratio(self, load: str, size: int, layer: str, a: str, b: str) -> tuple[float | None, int]:
        per_rep = self.ratios(load, size, layer, a, b)
        return _median(per_rep), len(per_rep)

    def ratios(self, load: str, size: int, layer: str, a: str, b: str) -> list[float]:
        """The ratio a ÷ b within each repetition where both succeeded."""
        per_rep = []
        runs_a = self.runs.get((load, size, layer, a), {})
        runs_b = self.runs.get((load, size, layer, b), {})
        for rep, ra in runs_a.items():
            rb = runs_b.get(rep)
            if rb is None or ra.error or rb.error or not ra.value or not rb.value:
                continue
            per_rep.append(ra.value / rb.value)
        return per_rep

    def failures(self) -> list[Result]:
        return [r for r in self.results if r.error]

    # -- tables ----------------------------------------------------------------------------------

    def tables(self) -> list[Table]:
        c = self.config
        tables: list[Table] = []
        labels = [SPECS[k].label for k in self.servers]
        if any(r.load == "echo" for r in self.results):
            t = Table("Echo: round trips per second (median)", ["clients", *labels])
            u = Table(
                "Echo: server CPU per round trip, µs (median)",
                ["clients", *labels],
            )
            for n in c.echo_clients:
                t.add(n, *(self.cell("echo", n, "memory", k) for k in self.servers))
                u.add(n, *(self.cell("echo", n, "memory", k, "cpu_us", 1) for k in self.servers))
            b = Table(
                "Echo: CPU busy, % of one core: server / load generator (median)",
                ["clients", *labels],
            )
            for n in c.echo_clients:
                b.add(n, *(self._busy("echo", n, "memory", k) for k in self.servers))
            tables += [t, u, b]
        if any(r.load == "fanout" for r in self.results):
            d = Table("Fan-out: deliveries per second (median)", ["layer", "members", *labels])
            lat = Table(
                "Fan-out: latency until the last member has it, ms: median (p95)",
                ["layer", "members", *labels],
            )
            cpu = Table(
                "Fan-out: server CPU per delivery, µs (median)", ["layer", "members", *labels]
            )
            busy = Table(
                "Fan-out: CPU busy, % of one core: server / load generator (median). Near 100 "
                "for the load generator, the number above is the client's limit, not the "
                "server's.",
                ["layer", "members", *labels],
            )
            for layer in c.layers:
                for size in c.fanout_sizes:
                    name = LAYER_LABEL[layer]
                    d.add(name, size, *(self.cell("fanout", size, layer, k) for k in self.servers))
                    lat.add(
                        name,
                        size,
                        *(self._latency(size, layer, k) for k in self.servers),
                    )
                    cpu.add(
                        name,
                        size,
                        *(self.cell("fanout", size, layer, k, "cpu_us", 1) for k in self.servers),
                    )
                    busy.add(
                        name, size, *(self._busy("fanout", size, layer, k) for k in self.servers)
                    )
            tables += [d, lat, cpu, busy]
        ratio_table = self._ratios()
        if ratio_table.rows:
            tables.append(ratio_table)
        if any(r.load == "storm" for r in self.results):
            tables.append(self._storm())
        if any(r.load == "presence" for r in self.results):
            tables.append(self._presence())
        if any(r.load == "memory" for r in self.results):
            m = Table(
                f"Memory per idle connected socket ({c.memory_sockets} sockets, in-memory layer)",
                ["server", "KiB per socket", "RSS before, MiB"],
            )
            for k in self.servers:
                if self.runs.get(("memory", c.memory_sockets, "memory", k)):
                    m.add(
                        SPECS[k].label,
                        self.cell("memory", c.memory_sockets, "memory", k, digits=1),
                        self.cell("memory", c.memory_sockets, "memory", k, "rss_before_mib", 1),
                    )
            tables.append(m)
        if any(r.load == "slow" for r in self.results):
            s = Table(
                f"Slow member: 1 of 10 members stops reading; of {c.slow_messages} broadcasts "
                "(4 KiB), how many the other 9 got before one took over 3 s (worst repetition)",
                ["server", "reached the others"],
            )
            for k in self.servers:
                runs = list(self.runs.get(("slow", 10, "memory", k), {}).values())
                good = [r for r in runs if r.error is None]
                if runs:
                    worst = min((r.value for r in good), default=None)
                    cell = _fmt(worst)
                    if worst is not None and worst < c.slow_messages:
                        cell += " (stalled)"
                    s.add(SPECS[k].label, cell)
            tables.append(s)
        targets = self._targets()
        if targets.rows:
            tables.append(targets)
        return tables

    def _busy(self, load: str, size: int, layer: str, server: str) -> str:
        if not self.runs.get((load, size, layer, server)):
            return ""
        good = self.ok(load, size, layer, server)
        s = _median(r.extra.get("server_cpu") for r in good)
        c = _median(r.extra.get("client_cpu") for r in good)
        if s is None or c is None:
            return DASH
        return f"{100 * s:.0f} / {100 * c:.0f}"

    def _latency(self, size: int, layer: str, server: str) -> str:
        runs = self.runs.get(("fanout", size, layer, server))
        if not runs:
            return ""
        good = self.ok("fanout", size, layer, server)
        med = _median(r.extra.get("lat_ms") for r in good)
        p95 = _median(r.extra.get("p95_ms") for r in good)
        if med is None:
            return DASH
        text = f"{med:.1f} ({p95:.1f})"
        if len(good) < len(runs):
            text += f" [{len(good)}/{len(runs)}]"
        return text

    def _ratios(self) -> Table:
        c = self.config
        pairs = [(a, b) for a, b in RATIO_PAIRS if a in self.servers and b in self.servers]
        headers = ["load", "layer", "size", *(f"{SHORT[a]} ÷ {SHORT[b]}" for a, b in pairs)]
        t = Table(
            "Ratios (median of the ratios within each repetition, and in brackets the lowest "
            "and highest of them: the spread between repetitions; > 1 means the first is faster)",
            headers,
        )
        rows = []
        if any(r.load == "echo" for r in self.results):
            rows += [("echo", "memory", n) for n in c.echo_clients]
        if any(r.load == "fanout" for r in self.results):
            rows += [("fanout", layer, n) for layer in c.layers for n in c.fanout_sizes]
        for load, layer, size in rows:
            cells = []
            for a, b in pairs:
                per_rep = self.ratios(load, size, layer, a, b)
                value = _median(per_rep)
                if not per_rep and not self._measured(load, size, layer, a, b):
                    cells.append("")
                elif value is None:
                    cells.append(DASH)
                elif len(per_rep) > 1:
                    cells.append(f"{value:.2f}x [{min(per_rep):.2f}-{max(per_rep):.2f}]")
                else:
                    cells.append(f"{value:.2f}x")
            t.add(load, LAYER_LABEL[layer] if load == "fanout" else "", size, *cells)
        return t

    def _measured(self, load, size, layer, a, b) -> bool:
        return bool(self.runs.get((load, size, layer, a))) and bool(
            self.runs.get((load, size, layer, b))
        )

    def _storm(self) -> Table:
        c = self.config
        t = Table(
            f"Connect storm: {c.storm_sockets} sockets at once over two processes on "
            "RedisChannelLayer (worst repetition for counts, median for times)",
            [
                "server",
                "all joined, s",
                "joined",
                "group entries in Redis",
                "broadcast reached",
                "duplicates",
                "group entries left after disconnect",
                "errors",
            ],
            "Group entries in Redis: members of the broadcast group's sorted set (one per socket "
            "for raw Channels, one per process for easy_channels). Left after disconnect: members "
            "of any group under the layer's prefix.",
        )
        errors = []
        for k in c.storm_servers:
            runs = list(self.runs.get(("storm", c.storm_sockets, "redis", k), {}).values())
            if not runs:
                continue
            good = [r for r in runs if r.error is None]
            if not good:
                t.add(SPECS[k].label, DASH, DASH, DASH, DASH, DASH, DASH, runs[0].error or "")
                continue
            n = c.storm_sockets
            e = [r.extra for r in good]
            kinds: Counter = Counter()
            for x in e:
                kinds.update(x.get("error_kinds", {}))
            if kinds:
                errors.append(
                    f"{SPECS[k].label}: "
                    + ", ".join(f"{n} x {name}" for name, n in kinds.most_common())
                    + f" over {len(e)} run(s), e.g. "
                    + next(x["first_error"] for x in e if x["first_error"])
                )
            t.add(
                SPECS[k].label,
                _fmt(_median(r.value for r in good), 2),
                f"{min(x['joined'] for x in e)}/{n}",
                f"{min(x['members_in_redis'] for x in e)}",
                f"{min(x['delivered'] for x in e)}/{n}",
                f"{max(x['duplicated'] for x in e)}",
                f"{max(x['leftover'] for x in e)}",
                f"{max(x['errors'] for x in e)}"
                + (f" ({len(runs) - len(good)} runs failed)" if len(good) < len(runs) else ""),
            )
        if errors:
            t.note += " Client-side errors: " + "; ".join(errors) + "."
        return t

    def _presence_runs(self) -> list[Result]:
        c = self.config
        runs = self.runs.get(("presence", c.presence_sockets, "redis", "ec-presence"), {})
        return list(runs.values())

    def _presence(self) -> Table:
        c = self.config
        n = c.presence_sockets
        t = Table(
            f"Presence storm: {n} sockets join one group with presence_add at once, over two "
            "processes on RedisChannelLayer (worst repetition for counts, median for times)",
            [
                "server",
                "every view complete, s",
                "complete views",
                "all views the same",
                "presence frames per member, max (median)",
                "presence keys left in Redis",
                "errors",
            ],
            "Complete: a member's view (built from its presence_state and presence_diff "
            "frames, as a client does) holds all the keys. The time includes connecting.",
        )
        runs = self._presence_runs()
        good = [r for r in runs if r.error is None]
        if not good:
            if runs:
                t.add(SPECS["ec-presence"].label, DASH, DASH, DASH, DASH, DASH, runs[0].error or "")
            return t
        e = [r.extra for r in good]
        t.add(
            SPECS["ec-presence"].label,
            _fmt(_median(r.value for r in good), 2),
            f"{min(x['complete'] for x in e)}/{n}",
            "yes" if all(x["same"] for x in e) else "no",
            f"{max(x['frames_max'] for x in e)} ({_median(x['frames_median'] for x in e):.0f})",
            f"{max(x['presence_keys_left'] for x in e)}",
            f"{max(x['errors'] for x in e)}"
            + (f" ({len(runs) - len(good)} runs failed)" if len(good) < len(runs) else ""),
        )
        return t

    def _targets(self) -> Table:
        c = self.config
        t = Table("Targets (issues 6, 14, 15 and 16), from this run", ["target", "measured", "met"])

        def verdict(value: float | None, threshold: float) -> str:
            if value is None:
                return DASH
            return "yes" if value >= threshold else "no"

        def ratio_row(
            load: str, size: int, layer: str, pair: tuple[str, str], target: str, threshold: float
        ) -> None:
            """One target row: the ratio of ``pair`` for that load, if both were measured."""
            if self._measured(load, size, layer, *pair):
                value, _ = self.ratio(load, size, layer, *pair)
                t.add(target, DASH if value is None else f"{value:.2f}x", verdict(value, threshold))

        if "ec-uvicorn" in self.servers and "socketio" in self.servers:
            for layer in ("memory", "redis"):
                for size in (100, 500):
                    ratio_row(
                        "fanout",
                        size,
                        layer,
                        ("ec-uvicorn", "socketio"),
                        f"fan-out {size} members, {LAYER_LABEL[layer]}: easy_channels/uvicorn "
                        "deliveries/s ≥ 1.2x python-socketio",
                        1.2,
                    )
        if "ec-sio" in self.servers and "socketio" in self.servers:
            for n in c.echo_clients:
                ratio_row(
                    "echo",
                    n,
                    "memory",
                    ("ec-sio", "socketio"),
                    f"echo, {n} client(s), Socket.IO on both sides: easy_channels msgs/s "
                    "≥ 1.2x python-socketio",
                    1.2,
                )
            for layer in ("memory", "redis"):
                for size in (size for size in c.fanout_sizes if size >= 100):
                    ratio_row(
                        "fanout",
                        size,
                        layer,
                        ("ec-sio", "socketio"),
                        f"fan-out {size} members, {LAYER_LABEL[layer]}, Socket.IO on both "
                        "sides: easy_channels deliveries/s ≥ 1.5x python-socketio",
                        1.5,
                    )
        if "ec-recovery" in self.servers and "ec-uvicorn" in self.servers:
            for size in (100, 500):
                ratio_row(
                    "fanout",
                    size,
                    "redis",
                    ("ec-recovery", "ec-uvicorn"),
                    f"fan-out {size} members, Redis: deliveries/s with recovery = True "
                    "≥ 0.85x without",
                    0.85,
                )
        if "ec-uvicorn" in self.servers and "channels" in self.servers:
            for n in c.echo_clients:
                ratio_row(
                    "echo",
                    n,
                    "memory",
                    ("ec-uvicorn", "channels"),
                    f"echo, {n} client(s): easy_channels/uvicorn msgs/s ≥ 1.0x raw Channels",
                    1.0,
                )
        runs = list(self.runs.get(("storm", c.storm_sockets, "redis", "ec-uvicorn"), {}).values())
        if runs:
            n = c.storm_sockets
            good = [r.extra for r in runs if r.error is None]
            if len(good) < len(runs) or not good:
                t.add(
                    f"connect storm {n}: all join, broadcast reaches all, Redis forgets",
                    f"{len(runs) - len(good)} run(s) failed",
                    "no",
                )
            else:
                joined = min(x["joined"] for x in good)
                delivered = min(x["delivered"] for x in good)
                leftover = max(x["leftover"] for x in good)
                t.add(f"connect storm: {n}/{n} join", f"{joined}/{n}", verdict(joined, n))
                t.add(
                    f"connect storm: broadcast reaches {n}/{n}",
                    f"{delivered}/{n}",
                    verdict(delivered, n),
                )
                t.add(
                    "connect storm: no membership left in Redis after disconnect",
                    f"{leftover} left",
                    "yes" if leftover == 0 else "no",
                )
        presence = self._presence_runs()
        if presence:
            n = c.presence_sockets
            good = [r.extra for r in presence if r.error is None]
            complete = (
                min((x["complete"] for x in good), default=0) if len(good) == len(presence) else 0
            )
            t.add(
                f"presence storm: every member ends with the same {n} keys",
                f"{complete}/{n}" + ("" if all(x["same"] for x in good) else ", not the same"),
                "yes" if complete == n and all(x["same"] for x in good) else "no",
            )
            most = max((x["frames_max"] for x in good), default=None)
            t.add(
                "presence storm: at most ~50 presence frames per member",
                DASH if most is None else f"{most}",
                DASH if most is None else ("yes" if most <= 50 else "no"),
            )
        if self.runs.get(("memory", c.memory_sockets, "memory", "ec-uvicorn")):
            t.add(
                "memory per idle socket, easy_channels/uvicorn (reported)",
                self.cell("memory", c.memory_sockets, "memory", "ec-uvicorn", digits=1) + " KiB",
                "reported",
            )
        return t

    def failure_table(self) -> Table | None:
        failures = self.failures()
        if not failures:
            return None
        t = Table(
            "Failed or skipped measurements", ["load", "size", "layer", "server", "rep", "error"]
        )
        for r in failures:
            t.add(
                r.load,
                r.size,
                r.layer,
                SPECS[r.server].label,
                r.rep + 1,
                r.error.replace("|", "/").replace("\n", " "),
            )
        return t


# -- charts --------------------------------------------------------------------------------------

COLORS = {
    "ec-uvicorn": "#d62728",
    "ec-daphne": "#ff7f0e",
    "ec-sio": "#9467bd",
    "channels": "#1f77b4",
    "socketio": "#2ca02c",
    "websockets": "#7f7f7f",
    "ec-baseline": "#e377c2",
}


def charts(summary: Summary, out_dir: Path) -> list[Path]:
    """deliveries/s and latency against group size, one panel per layer (PNG, Agg)."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = summary.config
    layers = [
        layer
        for layer in c.layers
        if any(
            summary.runs.get(("fanout", s, layer, k))
            for s in c.fanout_sizes
            for k in summary.servers
        )
    ]
    if not layers:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for metric, ylabel, name in [
        ("value", "deliveries / s (higher is better)", "fanout-deliveries.png"),
        ("lat_ms", "ms until the last member has it (lower is better)", "fanout-latency.png"),
    ]:
        handles: dict[str, Any] = {}
        fig, axes = plt.subplots(
            1, len(layers), figsize=(4.6 * len(layers), 4), squeeze=False, sharey=True
        )
        for ax, layer in zip(axes[0], layers, strict=True):
            for k in summary.servers:
                xs, ys, lo, hi = [], [], [], []
                for size in c.fanout_sizes:
                    good = summary.ok("fanout", size, layer, k)
                    if not good:
                        continue
                    vals = [r.value if metric == "value" else r.extra[metric] for r in good]
                    xs.append(size)
                    ys.append(statistics.median(vals))
                    lo.append(min(vals))
                    hi.append(max(vals))
                if not xs:
                    continue
                (line,) = ax.plot(xs, ys, marker="o", label=SPECS[k].label, color=COLORS.get(k))
                handles.setdefault(SPECS[k].label, line)
                ax.fill_between(xs, lo, hi, color=COLORS.get(k), alpha=0.15, linewidth=0)
            ax.set_xscale("log")
            if metric != "value":
                ax.set_yscale("log")
            ax.set_title(LAYER_LABEL[layer])
            ax.set_xlabel("group members")
            ax.set_xticks(list(c.fanout_sizes))
            ax.set_xticklabels([str(s) for s in c.fanout_sizes])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.grid(True, which="both", alpha=0.3)
        axes[0][0].set_ylabel(ylabel)
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=5, fontsize=8)
        fig.suptitle(
            "Fan-out, one broadcast at a time (median of repetitions; band: min-max)", fontsize=10
        )
        fig.tight_layout(rect=(0, 0.07, 1, 1))
        path = out_dir / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


# -- docs/benchmarks.md ---------------------------------------------------------------------------

_BLOCK = re.compile(r"<!-- BEGIN (\w+) -->\n(.*?)<!-- END \1 -->", re.S)


def kept_blocks(text: str) -> dict[str, str]:
    """Blocks of an existing docs/benchmarks.md that a new run keeps (profile, notes)."""
    return {m.group(1): m.group(2) for m in _BLOCK.finditer(text)}


def block(name: str, body: str) -> str:
    return f"<!-- BEGIN {name} -->\n{body.rstrip()}\n<!-- END {name} -->"


def replace_block(text: str, name: str, body: str, before: str = "## Method") -> str:
    """Replace block ``name``, or insert it before the line ``before`` (or at the end)."""
    new = block(name, body)
    pattern = re.compile(rf"<!-- BEGIN {name} -->\n.*?<!-- END {name} -->", re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: new, text)
    index = text.find("\n" + before + "\n")
    if index >= 0:
        return text[: index + 1] + new + "\n\n" + text[index + 1 :]
    return text.rstrip() + "\n\n" + new + "\n"
