from django.conf import settings
from django.db import models


class Profile(models.Model):
    """A site user's profile: the site's own `accounts` app next to the API's accounts."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    nickname = models.CharField(max_length=100, blank=True)
