"""
The browser client's presence view (``socket.presence(group)``) in Chromium, against
``client_site.consumers.Present``: every socket of ``/ws/present/<key>/?name=N&tab=T`` is
tracked in ``room-<key>`` as key N with the meta ``{"tab": T}``.

Each page (``tab()``) is one browser tab in its own context: ``window.s`` is its socket and
``window.room`` its view of the room, whose ``join``, ``leave`` and ``sync`` calls are recorded
into ``window.events`` next to the lifecycle events and the raw ``presence_state`` and
``presence_diff`` frames that the page's ``track()`` records (``seen(name)`` lists them).
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.browser.test_client import WAIT, console_messages, open_page, own_server, wait_seen


@pytest.fixture(scope="module")
def site():
    with own_server() as server:
        yield server


@pytest.fixture
def key():
    """A fresh key: each test has a room of its own."""
    return uuid.uuid4().hex[:12]


WATCH = """([url, group, options]) => {
    window.s = track(EasyChannels.connect(url, options), "presence_state", "presence_diff");
    window.room = s.presence(group);
    room.on("join", (key, metas, joined) => events.push(["join", {key, metas, joined}]))
        .on("leave", (key, metas, left) => events.push(["leave", {key, metas, left}]))
        .on("sync", () => events.push(["sync", room.list()]));
}"""


def tab(new_page, server, key, name, tab_id, **options):
    """A page whose socket is tracked as ``name`` with ``{"tab": tab_id}``, watching its room."""
    page = open_page(new_page, server)
    url = f"/ws/present/{key}/?name={name}&tab={tab_id}"
    page.evaluate(WATCH, [url, f"room-{key}", options])
    page.wait_for_function("() => s.connected && seen('presence_state').length", timeout=WAIT)
    return page


def members(*entries):
    """``list()`` as expected: ``members(("ana", "a1", "a2"))`` for ana's tabs a1 and a2."""
    return [{"key": key, "metas": [{"tab": t} for t in tabs]} for key, *tabs in entries]


def converge(page, expected, *, ordered=True):
    """Wait until ``room.list()`` is ``expected`` (metas in any order unless ``ordered``)."""
    normal = "(l) => l" if ordered else (
        "(l) => l.map(({key, metas}) => ({key, metas: metas.map((m) => JSON.stringify(m)).sort()}))"
    )  # fmt: skip
    check = f"""(expected) => {{
        const normal = {normal};
        return JSON.stringify(normal(room.list())) === JSON.stringify(normal(expected));
    }}"""
    try:
        page.wait_for_function(check, arg=expected, timeout=WAIT)
    except Exception:
        assert page.evaluate("() => room.list()") == expected  # shows the difference
        raise
    return page.evaluate("() => room.list()")


def calls(page, name):
    return page.evaluate(f"() => seen({name!r})")


def test_tabs_joining_leaving_reconnecting_and_changing_meta(new_page, site, key):
    ana1 = tab(new_page, site, key, "ana", "a1", reconnectDelay=20)
    assert converge(ana1, members(("ana", "a1"))) == members(("ana", "a1"))
    assert calls(ana1, "join") == [
        {"key": "ana", "metas": [{"tab": "a1"}], "joined": [{"tab": "a1"}]}
    ]
    # The frame still reaches ordinary listeners, with the view already up to date.
    assert calls(ana1, "presence_state") == [
        {"group": f"room-{key}", "members": {"ana": [{"tab": "a1"}]}}
    ]
    assert calls(ana1, "sync") == [members(("ana", "a1"))]

    ana2 = tab(new_page, site, key, "ana", "a2")
    bob = tab(new_page, site, key, "bob", "b1")
    everyone = members(("ana", "a1", "a2"), ("bob", "b1"))
    assert converge(ana1, everyone) == everyone  # joins append: exact order
    for page in (ana2, bob):
        converge(page, everyone, ordered=False)  # their order is the server's state's
    assert calls(ana1, "join")[1:] == [
        {"key": "ana", "metas": [{"tab": "a1"}, {"tab": "a2"}], "joined": [{"tab": "a2"}]},
        {"key": "bob", "metas": [{"tab": "b1"}], "joined": [{"tab": "b1"}]},
    ]
    assert calls(ana1, "leave") == []
    assert calls(ana1, "sync")[-1] == everyone
    # One sync per frame: the state, then each diff.
    assert ana1.evaluate("() => seen('sync').length - seen('presence_diff').length") == 1
    assert ana1.evaluate("() => s.presence(room.group) === room && room.get('bob')") == [
        {"tab": "b1"}
    ]

    # The server drops ana1's connection; the client reconnects and on_connect tracks it again:
    # the fresh state replaces the view, nothing is duplicated and nothing seems to change.
    before = {name: len(calls(ana1, name)) for name in ("join", "leave", "sync")}
    ana1.evaluate("() => s.emit('drop')")
    assert wait_seen(ana1, "presence_state", 2)[-1]["group"] == f"room-{key}"
    assert calls(ana1, "connect")[-1] == {"reconnect": True, "recovered": False}
    assert converge(ana1, everyone) == everyone
    for page in (ana2, bob):  # they saw a1 go and come back
        converge(page, everyone, ordered=False)
    time.sleep(0.4)  # any late diff (coalesced every 0.1 s) has come by now
    assert ana1.evaluate("() => room.list()") == everyone
    assert calls(ana1, "join")[before["join"] :] == []
    assert calls(ana1, "leave")[before["leave"] :] == []
    assert len(calls(ana1, "sync")) > before["sync"]

    # bob changes his meta: a leave and a join in one diff, joins first, so his key stays put.
    bob.evaluate("() => s.emit('retab', {tab: 'b2'})")
    changed = members(("ana", "a1", "a2"), ("bob", "b2"))
    assert converge(ana1, changed) == changed
    assert calls(ana1, "join")[-1] == {
        "key": "bob",
        "metas": [{"tab": "b1"}, {"tab": "b2"}],
        "joined": [{"tab": "b2"}],
    }
    assert calls(ana1, "leave")[-1] == {
        "key": "bob",
        "metas": [{"tab": "b2"}],
        "left": [{"tab": "b1"}],
    }
    assert calls(ana1, "sync")[-1] == changed
    converge(bob, changed, ordered=False)  # his fresh state
    assert len(calls(bob, "presence_state")) == 2

    # One of ana's tabs closes: ana stays, with the other tab's meta.
    ana2.close()
    assert converge(ana1, members(("ana", "a1"), ("bob", "b2"))) == members(
        ("ana", "a1"), ("bob", "b2")
    )
    assert calls(ana1, "leave")[-1] == {
        "key": "ana",
        "metas": [{"tab": "a1"}],
        "left": [{"tab": "a2"}],
    }

    # bob's last tab closes: his key is gone.
    bob.close()
    assert converge(ana1, members(("ana", "a1"))) == members(("ana", "a1"))
    assert calls(ana1, "leave")[-1] == {"key": "bob", "metas": [], "left": [{"tab": "b2"}]}
    assert ana1.evaluate("() => [room.get('bob'), room.get('ana')]") == [None, [{"tab": "a1"}]]
    assert calls(ana1, "sync")[-1] == members(("ana", "a1"))
    assert ana1.js_errors == []
    assert console_messages(ana1, "error") == []


def test_presence_discard_is_seen_by_the_others(new_page, site, key):
    ana = tab(new_page, site, key, "ana", "a1")
    bob = tab(new_page, site, key, "bob", "b1")
    converge(ana, members(("ana", "a1"), ("bob", "b1")))
    bob.evaluate("() => s.request('leave_room')")
    assert converge(ana, members(("ana", "a1"))) == members(("ana", "a1"))
    assert calls(ana, "leave") == [{"key": "bob", "metas": [], "left": [{"tab": "b1"}]}]
    assert bob.evaluate("() => s.connected")
    # bob's own view empties: the server's last, empty presence_state.
    assert converge(bob, []) == []
    assert {c["key"] for c in calls(bob, "leave")} == {"ana", "bob"}
    assert ana.js_errors == [] and bob.js_errors == []


def test_the_view_api(new_page, site, key):
    page = open_page(new_page, site)
    result = page.evaluate(
        """async ([url, group]) => {
            const s = EasyChannels.connect(url);
            const view = s.presence(group);
            const errors = [
                () => s.presence(""), () => s.presence(7), () => view.on("joins", () => {}),
                () => view.on("join", "not a function"),
            ].map((call) => {
                try { call(); } catch (e) { return e.name; }
                return "no error";
            });
            const counts = {join: 0, removed: 0, sync: 0};
            const removed = () => counts.removed++;
            const chained = view.on("join", () => counts.join++).on("join", removed)
                .on("sync", () => counts.sync++).off("join", removed);
            while (!view.get("ana")) await new Promise((r) => setTimeout(r, 10));
            const copy = view.get("ana");
            copy.push({tab: "fake"});
            view.list()[0].metas.length = 0;
            const frozen = Object.isFrozen(view.get("ana")[0]);
            s.close();
            return {
                errors, counts, chained: chained === view, same: s.presence(group) === view,
                group: view.group, list: view.list(), frozen, missing: view.get("nobody"),
            };
        }""",
        [f"/ws/present/{key}/?name=ana&tab=a1", f"room-{key}"],
    )
    assert result == {
        "errors": ["TypeError"] * 4,
        "counts": {"join": 1, "removed": 0, "sync": 1},
        "chained": True,
        "same": True,
        "group": f"room-{key}",
        "list": members(("ana", "a1")),  # copies handed out; the view's metas are frozen
        "frozen": True,
        "missing": None,
    }
    assert page.js_errors == []


def test_a_throwing_presence_listener_does_not_break_the_client(new_page, site, key):
    ana = tab(new_page, site, key, "ana", "a1")
    ana.evaluate(
        """() => {
            room.on("join", () => { throw new Error("join bug"); });
            room.on("leave", async () => { throw new Error("async leave bug"); });
            room.on("sync", () => { throw new Error("sync bug"); });
        }"""
    )
    bob = tab(new_page, site, key, "bob", "b1")
    converge(ana, members(("ana", "a1"), ("bob", "b1")))
    bob.close()
    converge(ana, members(("ana", "a1")))
    # The listeners added before them still ran, and so did the socket's own listeners.
    assert calls(ana, "join")[-1]["key"] == "bob"
    assert calls(ana, "leave") == [{"key": "bob", "metas": [], "left": [{"tab": "b1"}]}]
    assert len(calls(ana, "presence_diff")) >= 2
    ana.evaluate("() => new Promise((resolve) => setTimeout(resolve, 50))")  # async reports
    errors = console_messages(ana, "error")
    where = f'of presence("room-{key}") threw'
    for name in ("join", "leave", "sync"):
        assert any(f"'{name}' listener {where}" in text for text in errors), errors
    assert ana.js_errors == []
    assert ana.evaluate("() => s.request('leave_room').then(() => s.connected)")
