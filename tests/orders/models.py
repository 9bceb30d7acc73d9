"""
The models of the docs' examples: sending.rst's view (tests/test_docs_snippets.py) and
recovery.rst's chat (tests/test_recovery.py).
"""

from django.db import models


class Order(models.Model):
    status = models.CharField(max_length=20, default="new")

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return f"/orders/{self.pk}/"


class Message(models.Model):
    """The ``Message`` of docs/topics/recovery.rst's chat (tests/test_recovery.py)."""

    room = models.CharField(max_length=100)
    text = models.TextField()

    def __str__(self) -> str:
        return f"{self.room}: {self.text}"
