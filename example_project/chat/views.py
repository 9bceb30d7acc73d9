from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

import easy_channels

from .forms import AnnounceForm
from .sockets import EVERYONE, room_group


def chat(request, client="easy_channels"):
    """
    The chat page; everything else happens over the socket: static/chat/chat.js on the
    easy_channels client, or (``client="socketio"``, at /socketio/) static/chat/chat-socketio.js
    on socket.io-client. The same consumer serves both, in the same rooms.
    """
    return render(request, "chat/chat.html", {"client": client})


@require_http_methods(["GET", "POST"])
def announce(request):
    """
    A plain Django view that runs ``on_announce`` in every member of a room (or of all rooms).

    ``group_call_event`` works from any sync code: views, signals, management commands, Celery.
    Open to everyone in the demo (DEBUG); staff only otherwise.
    """
    if not (settings.DEBUG or request.user.is_staff):
        return redirect_to_login(request.get_full_path(), reverse("admin:login"))
    form = AnnounceForm(request.POST or None)
    if form.is_valid():
        room = form.cleaned_data["room"]
        group = room_group(room) if room else EVERYONE
        easy_channels.group_call_event(group, "announce", {"text": form.cleaned_data["text"]})
        messages.success(request, f"Announced in {'#' + room if room else 'every room'}.")
        return redirect("announce")
    return render(request, "chat/announce.html", {"form": form})
