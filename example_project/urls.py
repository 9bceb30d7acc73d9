from django.contrib import admin
from django.urls import path

from example_project.chat import views

urlpatterns = [
    path("", views.chat, name="chat"),
    path("announce/", views.announce, name="announce"),
    path("admin/", admin.site.urls),
]
