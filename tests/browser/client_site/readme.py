"""
The consumers of README.rst itself, for the browser test of its JavaScript examples.

README's ``python`` blocks run here in one namespace, as tests/test_readme.py runs them, so the
JavaScript examples talk to exactly the Python the README shows.
"""

from tests.utils import README, readme_blocks

namespace: dict = {"__name__": "readme"}
for block in readme_blocks("python"):
    exec(compile(block, str(README), "exec"), namespace)

ChatConsumer = namespace["ChatConsumer"]
CounterConsumer = namespace["CounterConsumer"]
