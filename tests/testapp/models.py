from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)
    author = models.CharField(max_length=50, blank=True)

    def __str__(self) -> str:
        return self.text
