"""
Side-by-side benchmarks (``make bench``, or ``python -m benchmarks --help``).

easy_channels on uvicorn and daphne, a raw Channels consumer, python-socketio and a bare
``websockets`` server (the ceiling) each run as a subprocess on a loopback port; one asyncio
load generator drives them with the same loads (echo, fan-out on three channel layers, a
connect storm, idle memory, a slow group member), interleaving repetitions; the tables go to
stdout and docs/benchmarks.md.

Modules: ``apps`` (the servers), ``servers`` (processes and /proc readings), ``load`` (the
clients and loads), ``suite`` (order, timeouts, budget), ``report`` (tables, ratios, charts),
``document`` (the Markdown page), ``profiling`` (``--profile``).
"""
