"""The sync's own records: its runs (state as data, so a crash leaves a row to resume from) and
the webhook events it applied. The tables kept the names they had under `contacts`."""

from django.conf import settings
from django.db import models


class SyncRun(models.Model):
    """One run of the sync service: its state is data, so a crash leaves a row to resume from."""

    class Kind(models.TextChoices):
        FULL = "full", "Full"
        INCREMENTAL = "incremental", "Incremental"
        LABELS = "labels", "Labels only"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted"
        # A full run that would delete more of the cache than SYNC_MASS_DELETE_* allow stops
        # before deleting anything; a person confirms by running it again with the allowance.
        WAITING = "waiting", "Waiting for confirmation"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Contacts changed at or after this instant are fetched again by the next incremental run.
    watermark = models.DateTimeField(null=True, blank=True)
    pages = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    labels_created = models.PositiveIntegerField(default=0)
    labels_updated = models.PositiveIntegerField(default=0)
    labels_deleted = models.PositiveIntegerField(default=0)
    contacts_created = models.PositiveIntegerField(default=0)
    contacts_updated = models.PositiveIntegerField(default=0)
    contacts_deleted = models.PositiveIntegerField(default=0)
    contacts_seen = models.PositiveIntegerField(default=0)
    contacts_total = models.PositiveIntegerField(null=True, blank=True)
    # Contacts Wix sent that the cache cannot read: the run goes on without them, and never
    # deletes them. `notes` names the first few, and contacts stored only in part (too long).
    contacts_set_aside = models.PositiveIntegerField(default=0)
    notes = models.JSONField(default=list, blank=True)
    checkpoint = models.JSONField(default=dict, blank=True)
    resumed_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    error = models.TextField(blank=True)

    class Meta:
        db_table = "contacts_syncrun"
        ordering = ["-started_at", "-id"]
        get_latest_by = "started_at"
        permissions = [("run_sync", "Can start a sync with Wix")]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="running"),
                name="syncrun_one_running",
                violation_error_message="Another sync is already running.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sync #{self.pk} ({self.get_status_display()})"

    @property
    def duration(self):
        return (self.finished_at or self.heartbeat_at) - self.started_at

    @property
    def progress_percent(self) -> int | None:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.contacts_total:
            return None
        return min(99, round(100 * self.contacts_seen / self.contacts_total))


class WebhookEvent(models.Model):
    """A Wix webhook event applied to the cache, so that a replay is recognised and ignored."""

    event_id = models.CharField(max_length=100, unique=True)
    event_type = models.CharField(max_length=100)
    entity_id = models.CharField(max_length=100)
    event_time = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "contacts_webhookevent"
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["entity_id", "event_time"], name="webhookevent_entity_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.entity_id}"


class SyncDeletion(models.Model):
    """A cached contact that a full run found gone from Wix (not in the walk, and not found on a
    second look). Deleted together at the end of the run, unless there are too many of them."""

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="deletions")
    contact = models.ForeignKey("wixcache.Contact", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "contact"], name="syncdeletion_run_contact")
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} gone (run {self.run_id})"
