"""Pages loading the client as a classic script (/) and as an ES module (/module/)."""

from django.http import JsonResponse
from django.urls import path
from django.views.generic import TemplateView

from . import consumers


def stats(request, key):
    """What the consumers saw for ``key`` (connections, closes, recorded frames)."""
    return JsonResponse(consumers.STATS.get(key, consumers.new_stats()))


urlpatterns = [
    path("", TemplateView.as_view(template_name="client.html", extra_context={"module": False})),
    path(
        "module/",
        TemplateView.as_view(template_name="client.html", extra_context={"module": True}),
    ),
    path("stats/<str:key>/", stats),
]
