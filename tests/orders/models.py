"""The ``Order`` of docs/topics/sending.rst's view example (tests/test_docs_snippets.py)."""

from django.db import models


class Order(models.Model):
    status = models.CharField(max_length=20, default="new")

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return f"/orders/{self.pk}/"
