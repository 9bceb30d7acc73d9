"""
A test project served by several real ASGI processes sharing a Redis channel layer.

``tests/test_scaleout.py`` starts it with uvicorn and daphne (``tests.liveserver``) and proves
that every way of sending crosses the process boundary. It is configured by environment
variables (see ``settings.py``), so the servers and the ``scaleout_send`` management command
run as separate processes share one layer, under a key prefix of their own.
"""
