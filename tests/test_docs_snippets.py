"""
The ``py`` examples of docs/topics/sending.rst that need an app around them, run with one: the
order view (its model is tests/orders), the logout signal and the async announcer. Only the
Celery task is compiled without running (tests/test_docs.py): Celery is not a dependency.
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.test import RequestFactory

from easy_channels import JSONWebSocket
from tests.utils import DOCS, code_blocks, communicator, receive

SENDING = DOCS / "topics" / "sending.rst"


def snippet(marker: str, package: str) -> dict:
    """Run the page's ``py`` block containing ``marker`` as a module of ``package``."""
    [code] = [code for _, code in code_blocks(SENDING, "py") if marker in code]
    namespace: dict = {"__name__": f"{package}.snippet", "__package__": package}
    exec(compile(code, str(SENDING), "exec"), namespace)
    return namespace


class OrderPage(JSONWebSocket):
    """A page showing one order: its socket is in the order's group."""

    async def on_connect(self):
        await self.group_add(f"order.{self.scope['url_route']['kwargs']['pk']}")


class Lobby(JSONWebSocket):
    groups = ["lobby"]


class Maintenance(JSONWebSocket):
    groups = ["maintenance"]


@pytest.mark.django_db(transaction=True)
async def test_the_ship_view_tells_the_order_page_after_the_commit(channel_layer):
    from tests.orders.models import Order

    ship = snippet("# orders/views.py", "tests.orders")["ship"]
    order = await Order.objects.acreate()
    page = communicator(OrderPage, f"/ws/orders/{order.pk}/", route=r"^ws/orders/(?P<pk>\d+)/$")
    assert (await page.connect())[0]
    response = await sync_to_async(ship)(RequestFactory().post("/"), order.pk)
    assert response.status_code == 302 and response.url == f"/orders/{order.pk}/"
    assert await receive(page) == {"event": "status", "status": "shipped"}
    assert (await Order.objects.aget(pk=order.pk)).status == "shipped"
    await page.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_logging_out_closes_the_users_sockets(channel_layer, settings):
    from django.contrib.auth.signals import user_logged_out

    receiver = snippet("# accounts/signals.py", "tests.accounts")["close_sockets"]
    try:
        user = await User.objects.acreate(username="ana")
        socket = communicator(Lobby, "/ws/", user=user)
        assert (await socket.connect())[0]
        await sync_to_async(user_logged_out.send)(sender=User, request=None, user=user)
        assert await socket.receive_output(1) == {
            "type": "websocket.close",
            "code": 4001,
            "reason": "Logged out",
        }
    finally:
        user_logged_out.disconnect(receiver)


async def test_the_async_announcer(channel_layer):
    announce = snippet("async def announce", "tests.announcer")["announce"]
    lobby, maintenance = communicator(Lobby), communicator(Maintenance)
    assert (await lobby.connect())[0] and (await maintenance.connect())[0]
    await announce("Back soon")
    assert await receive(lobby) == {"event": "announcement", "text": "Back soon"}
    assert await maintenance.receive_output(1) == {
        "type": "websocket.close",
        "code": 4001,
        "reason": "Back in five minutes",
    }
    await lobby.disconnect()
