from django.db import models


class Label(models.Model):
    """A Wix contact label, as last seen in Wix (the cache is written only after Wix accepts)."""

    class Type(models.TextChoices):
        SYSTEM = "SYSTEM", "System"
        USER_DEFINED = "USER_DEFINED", "User"
        WIX_APP_DEFINED = "WIX_APP_DEFINED", "App"
        UNKNOWN = "UNKNOWN", "Unknown"

    key = models.CharField(max_length=80, unique=True, editable=False)
    display_name = models.CharField(max_length=180)
    label_type = models.CharField(max_length=16, choices=Type.choices, default=Type.USER_DEFINED)
    namespace = models.CharField(max_length=25)
    namespace_display_name = models.CharField(max_length=180, blank=True)
    remote_created_at = models.DateTimeField(null=True, blank=True)
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["display_name", "key"]
        indexes = [models.Index(fields=["display_name"], name="label_display_name_idx")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_system(self) -> bool:
        return self.label_type == self.Type.SYSTEM
