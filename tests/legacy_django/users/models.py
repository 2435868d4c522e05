"""The seed's ``users.User``. ``avatar`` is a FileField here (the seed's ImageField, the
same varchar column, without Pillow); ``nickname`` is longer than luffy's 50 so that an
over-long one can be stored."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    mobile = models.CharField(max_length=15, unique=True, null=True, blank=True)
    money = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    credit = models.IntegerField(default=0)
    avatar = models.FileField(upload_to="avatar", blank=True, null=True, max_length=255)
    nickname = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        db_table = "lf_users"
