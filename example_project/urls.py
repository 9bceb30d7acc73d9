from django.contrib import admin
from django.urls import path

from example_project.chat import views

urlpatterns = [
    path("", views.chat, name="chat"),
    # The same page on socket.io-client (its requests go to /socket.io/, which asgi.py routes).
    path("socketio/", views.chat, {"client": "socketio"}, name="chat-socketio"),
    path("announce/", views.announce, name="announce"),
    path("admin/", admin.site.urls),
]
