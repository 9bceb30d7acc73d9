"""The page's ``chat/sockets.py`` blocks, run here in order as one module."""

from tests.sio_docs_site import PAGE, blocks

for _code in blocks("py", caption="chat/sockets.py"):
    exec(compile(_code, str(PAGE), "exec"), globals())
