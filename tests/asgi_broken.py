"""An asgi.py with a bug of its own (for W005): the setting naming it is right."""

raise RuntimeError("the project's own bug")
