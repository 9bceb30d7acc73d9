"""
The tutorial and the how-to guides, done as a reader does them: ``startproject``, every file
the pages show written exactly as shown (by its ``:caption:``), every command they show run, and
what they say comes out checked. The project's own tests (the tutorial's ``chat/tests.py`` and
the live-server browser test of docs/howto/live-tests.rst) run with ``manage.py test``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.browser.conftest import CHROMIUM, REQUIRE_BROWSER, _browser_unavailable
from tests.liveserver import free_port, wait_for_port
from tests.utils import DOCS, README, code_blocks

pytestmark = pytest.mark.timeout(300)

TUTORIAL = DOCS / "tutorial.rst"
HOWTO = DOCS / "howto"


def captioned(page: Path, language: str) -> dict[str, str]:
    return {caption: code for caption, code in code_blocks(page, language) if caption}


def console(page: Path) -> list[str]:
    """The commands (``$ ...`` lines) of a page's console blocks, in order."""
    return [
        line[2:]
        for _, code in code_blocks(page, "console")
        for line in code.splitlines()
        if line.startswith("$ ")
    ]


def apply_diff(path: Path, diff: str) -> None:
    """Apply a docs ``diff`` block: its context and ``-`` lines, in a row, become the rest."""
    ops = [(line[:1], line[1:]) for line in diff.splitlines()]
    old = [text for op, text in ops if op in (" ", "-")]
    new = [text for op, text in ops if op in (" ", "+")]
    lines = path.read_text().splitlines()
    for i in range(len(lines) - len(old) + 1):
        if lines[i : i + len(old)] == old:
            path.write_text("\n".join([*lines[:i], *new, *lines[i + len(old) :]]) + "\n")
            return
    raise AssertionError(f"{path.name} has no lines {old}")


def run(project: Path, command: str, **kwargs) -> str:
    argv = command.split()
    if argv[0] == "python":
        argv[0] = sys.executable
    elif argv[0] in ("django-admin", "uvicorn", "daphne"):
        argv = [sys.executable, "-m", {"django-admin": "django"}.get(argv[0], argv[0]), *argv[1:]]
    result = subprocess.run(
        argv, cwd=project, env=environment(), capture_output=True, text=True, timeout=180, **kwargs
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{command}:\n{output}"
    return output


def environment() -> dict[str, str]:
    env = {**os.environ, "CHROMIUM": CHROMIUM, "PYTHONDONTWRITEBYTECODE": "1"}
    for name in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH"):
        env.pop(name, None)
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """The tutorial's project, built step by step as the page says."""
    reason = _browser_unavailable()
    if reason is not None:  # the browser tests are skipped already, unless REQUIRE_BROWSER
        assert not REQUIRE_BROWSER, reason
    root = tmp_path_factory.mktemp("reader")
    commands = console(TUTORIAL)
    assert commands[:4] == [
        'pip install -e "path/to/django-easy-channels[daphne]"',  # done: this environment
        "django-admin startproject mysite",
        "cd mysite",
        "python manage.py startapp chat",
    ]
    run(root, commands[1])
    site = root / "mysite"
    run(site, commands[3])

    files = captioned(TUTORIAL, "python") | captioned(TUTORIAL, "html+django")
    settings = site / "mysite" / "settings.py"
    additions = [files.pop("mysite/settings.py (at the end)")]
    for guide in ("live-tests", "logging"):
        additions.append(captioned(HOWTO / f"{guide}.rst", "python").pop(
            "mysite/settings.py (at the end)"
        ))  # fmt: skip
    settings.write_text(settings.read_text() + "\n" + "\n\n".join(additions) + "\n")
    [asgi_change] = [code for _, code in code_blocks(README, "diff")]
    apply_diff(site / "mysite" / "asgi.py", asgi_change)
    files["chat/test_browser.py"] = captioned(HOWTO / "live-tests.rst", "python")[
        "chat/test_browser.py"
    ]
    assert set(files) == {
        "chat/sockets.py",
        "chat/models.py",
        "chat/views.py",
        "chat/templates/chat/room.html",
        "mysite/urls.py",
        "chat/tests.py",
        "chat/test_browser.py",
    }
    for name, code in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(code + "\n")
    for command in console(TUTORIAL)[4:6]:  # makemigrations, migrate
        run(site, command)
    return site


def test_the_tutorial_commands_do_what_it_says(project):
    commands = console(TUTORIAL)[4:]
    assert commands == [
        "python manage.py makemigrations chat",
        "python manage.py migrate",
        "python manage.py easy_channels",
        "python manage.py runserver",
        "python manage.py test chat",
    ]
    listing = run(project, commands[2])
    [shown] = [code for _, code in code_blocks(TUTORIAL, "console") if "easy_channels\n" in code]
    printed = shown.split("$ python manage.py easy_channels\n", 1)[1]
    assert printed.splitlines() == listing.strip("\n").splitlines()
    checks = run(project, "python manage.py check")
    assert "easy_channels." not in checks, checks


def test_the_project_tests_pass_with_a_browser(project):
    """The tutorial's chat/tests.py and the live-server browser test of the how-to."""
    output = run(project, "python manage.py test chat -v 2")
    assert "Ran 3 tests" in output and "OK" in output, output
    for name in (
        "test_messages_reach_the_room_and_its_history",
        "test_a_name_is_required",
        "test_what_ana_says_bob_sees",
    ):
        assert f"{name} " in output, output


class Served:
    def __init__(self, project: Path, command: str, port: int | None = None):
        self.port = port or free_port()
        argv = command.replace("8000", str(self.port)).split()
        argv = [sys.executable, "-m", *argv] if argv[0] != "python" else [sys.executable, *argv[1:]]
        self.log = open(project / f"server-{self.port}.log", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            argv, cwd=project, env=environment(), stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for_port(self.port, self.proc)

    def get(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as error:
            return error.code

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.log.close()


def test_runserver_serves_the_page_and_the_client(project):
    server = Served(project, "python manage.py runserver 8000 --noreload")
    try:
        assert server.get("/chat/lobby/?name=ana") == 200
        assert server.get("/static/easy_channels/easy-channels.js") == 200
    finally:
        server.stop()


def test_static_files_bot_and_logging_guides_under_uvicorn(project):
    [command] = console(HOWTO / "static-files.rst")
    # Before the change the guide describes: the page's client is a 404 under uvicorn.
    server = Served(project, command)
    try:
        assert server.get("/static/easy_channels/easy-channels.js") == 404
    finally:
        server.stop()
    [change] = [code for _, code in code_blocks(HOWTO / "static-files.rst", "diff")]
    apply_diff(project / "mysite" / "asgi.py", change)

    server = Served(project, command)
    try:
        assert server.get("/static/easy_channels/easy-channels.js") == 200
        # docs/howto/clients.rst: the bot, run as shown, prints what the page says it prints.
        bot = captioned(HOWTO / "clients.rst", "python")["bot.py"]
        (project / "bot.py").write_text(bot.replace("127.0.0.1:8000", f"127.0.0.1:{server.port}"))
        [shown] = [code for _, code in code_blocks(HOWTO / "clients.rst", "console")]
        assert shown.splitlines()[0] == "$ python bot.py"
        printed = run(project, "python bot.py")
        assert shown.splitlines()[1] in printed.splitlines(), printed
        # docs/howto/logging.rst: a path without its trailing slash, logged as shown.
        [line] = [code for _, code in code_blocks(HOWTO / "logging.rst", "text")]
        pattern = re.escape(line.split(" WARNING ", 1)[1])
        probe = (
            "import asyncio; from websockets.asyncio.client import connect\n"
            "async def main():\n"
            f"    try:\n        async with connect('ws://127.0.0.1:{server.port}/ws/chat/lobby',"
            f" origin='http://127.0.0.1:{server.port}'): pass\n"
            "    except Exception: pass\n"
            "asyncio.run(main())\n"
        )
        subprocess.run([sys.executable, "-c", probe], env=environment(), timeout=30, check=True)
        for _ in range(50):
            if re.search(r"\d{4}-\d\d-\d\d [\d:,]+ WARNING " + pattern, server.output()):
                break
            time.sleep(0.1)
        assert re.search(r"\d{4}-\d\d-\d\d [\d:,]+ WARNING " + pattern, server.output()), (
            server.output()
        )
    finally:
        server.stop()


NGINX = "/usr/sbin/nginx"


def test_deploy_guide_daphne_and_uvicorn_behind_its_nginx(project, tmp_path):
    """docs/howto/deploy.rst: its two commands, and its nginx configuration in front of them."""
    if not os.access(NGINX, os.X_OK):
        # Required wherever the browser tests are (CI): .ci/run installs both.
        assert not REQUIRE_BROWSER, f"nginx is required in CI ({NGINX}; .ci/run installs it)"
        pytest.skip(f"nginx is not installed at {NGINX} (apt-get install nginx)")
    guide = HOWTO / "deploy.rst"
    daphne_command, uvicorn_command = console(guide)
    settings = project / "mysite" / "settings.py"
    settings.write_text(settings.read_text() + '\nSTATIC_ROOT = BASE_DIR / "collected"\n')
    run(project, "python manage.py collectstatic --noinput")
    servers = []
    try:
        for command in (daphne_command, uvicorn_command):
            port = free_port()
            command = re.sub(r"(-p|--port) 800\d", rf"\1 {port}", command)
            servers.append(Served(project, command, port))
        [server_block] = [code for _, code in code_blocks(guide, "nginx")]
        front = free_port()
        conf = server_block.replace("listen 80;", f"listen 127.0.0.1:{front};")
        conf = conf.replace("/srv/mysite/static/", f"{project / 'collected'}/")
        for old, server in zip(("8001", "8002"), servers, strict=True):
            conf = conf.replace(f"127.0.0.1:{old};", f"127.0.0.1:{server.port};")
        temp = tmp_path / "nginx"
        temp.mkdir()
        (temp / "nginx.conf").write_text(
            # As root, nginx's workers would run as nobody, who can't read the temporary files.
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"worker_processes 1;\npid {temp}/nginx.pid;\nerror_log {temp}/error.log;\n"
            "events {}\nhttp {\n"
            f"access_log off;\nclient_body_temp_path {temp}/body;\nproxy_temp_path {temp}/proxy;\n"
            f"{conf}\n}}\n"
        )
        nginx = subprocess.Popen(
            [NGINX, "-p", str(temp), "-c", str(temp / "nginx.conf"), "-g", "daemon off;"],
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(front, nginx)
            with urllib.request.urlopen(
                f"http://127.0.0.1:{front}/static/easy_channels/easy-channels.js", timeout=10
            ) as response:
                assert response.status == 200 and b"EasyChannels" in response.read()
            # The bot of docs/howto/clients.rst, through nginx to whichever server it picks,
            # twice: both upstreams serve sockets.
            bot = captioned(HOWTO / "clients.rst", "python")["bot.py"]
            (project / "bot_nginx.py").write_text(
                bot.replace("127.0.0.1:8000", f"127.0.0.1:{front}")
            )
            for _ in range(2):
                assert "bot: hello from Python" in run(project, "python bot_nginx.py")
            assert (
                sum("[accepted]" in s.output() or "WSCONNECT" in s.output() for s in servers) >= 1
            )
        finally:
            nginx.terminate()
            nginx.wait(10)
    finally:
        for server in servers:
            server.stop()
