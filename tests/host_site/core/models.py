from django.db import models


class Announcement(models.Model):
    """A model of the site's own, to show its tables live next to the storage apps'."""

    text = models.CharField(max_length=200)
