"""The page's ``mysite/asgi.py``, run as this module (served by tests.liveserver)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.sio_docs_site.settings")

from tests.sio_docs_site import PAGE, blocks

[_code] = blocks("py", caption="mysite/asgi.py")
exec(compile(_code, str(PAGE), "exec"), globals())
