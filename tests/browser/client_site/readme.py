"""
The consumers of README.rst and its pages, for the browser test of their JavaScript examples.

Their ``python`` blocks run here in one namespace, as tests/test_readme.py runs them, and the
quick start's ``chat/sockets.py`` in one of its own, so the JavaScript examples talk to exactly
the Python the docs show.
"""

from tests.utils import README, code_blocks, readme_blocks

namespace: dict = {"__name__": "readme"}
for block in readme_blocks("python"):
    exec(compile(block, str(README), "exec"), namespace)

CounterConsumer = namespace["CounterConsumer"]

[quickstart_sockets] = [code for _, code in code_blocks(README, "py") if "chat/sockets.py" in code]
quickstart: dict = {"__name__": "chat.sockets"}
exec(compile(quickstart_sockets, str(README), "exec"), quickstart)
ChatConsumer = quickstart["ChatConsumer"]
