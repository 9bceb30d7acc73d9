"""
The Socket.IO test project that the official conformance suites run against.

``tests/test_conformance.py`` serves ``asgi.application`` (the Socket.IO suite) and
``asgi.engineio_application`` (the Engine.IO suite) with uvicorn and daphne
(``tests.liveserver``), at the timings the suites expect (``settings.py``).
"""
