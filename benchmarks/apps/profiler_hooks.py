"""SIGUSR1/SIGUSR2 start and stop pyinstrument in a server process (see ``easy_asgi``)."""

import os
import signal


def install_pyinstrument_hooks() -> None:
    path = os.environ.get("BENCH_PYINSTRUMENT")
    if not path:
        return
    from pyinstrument import Profiler

    state: dict = {}

    def start(signum, frame):
        if "profiler" not in state:
            # async_mode="disabled": sample the thread's real stack, event-loop work included.
            state["profiler"] = Profiler(interval=0.0005, async_mode="disabled")
            state["profiler"].start()

    def stop(signum, frame):
        profiler = state.pop("profiler", None)
        if profiler is None:
            return
        session = profiler.stop()
        with open(f"{path}.txt", "w") as f:
            f.write(profiler.output_text(unicode=False, color=False, show_all=False))
        with open(f"{path}.html", "w") as f:
            f.write(profiler.output_html())
        del session

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
