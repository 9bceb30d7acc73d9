from django.db import models


class Message(models.Model):
    """One chat message; the last ones of a room are sent to whoever joins it."""

    room = models.CharField(max_length=50, db_index=True)
    nickname = models.CharField(max_length=20)
    text = models.CharField(max_length=500)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created", "pk"]

    def __str__(self):
        return f"[{self.room}] {self.nickname}: {self.text}"

    def as_event(self):
        return {
            "id": self.pk,
            "nickname": self.nickname,
            "text": self.text,
            "created": self.created,
        }
