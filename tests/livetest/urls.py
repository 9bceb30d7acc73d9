from django.http import HttpResponse
from django.urls import path

PAGE = """<!doctype html><title>waiting</title><script>
const ws = new WebSocket(`ws://${location.host}/ws/echo/`);
ws.onopen = () => ws.send(JSON.stringify({event: "echo", ack: 1, text: "hello"}));
ws.onmessage = (e) => { document.title = JSON.parse(e.data).data.text; };
ws.onclose = (e) => { if (document.title === "waiting") document.title = "closed " + e.code; };
</script>"""


def page(request):
    return HttpResponse(PAGE)


urlpatterns = [path("", page)]
