from django.conf import settings
from django.db import models

from journal.models import Operation
from wixcache import models as cache


class LabelJobManager(models.Manager):
    """Jobs load their counts, not their contact lists (up to 100k ids each): a page or a list
    of jobs reads `total`, `done` and `failed`; the id lists load when a job's code asks."""

    def get_queryset(self):
        return super().get_queryset().defer("contact_ids", "failed_contact_ids")


class Label(cache.Label):
    """The labels page's handle on a cached label: the admin's pages at /admin/labels/label/,
    the `labels.*_label` permissions and the labels' history entries belong to it. The row
    itself is `wixcache.Label`, which every query uses."""

    class Meta:
        proxy = True
        default_permissions = ("add", "change", "delete", "view")


class LabelJob(models.Model):
    """A label change applied to many contacts through Wix's bulk job, run in the background.

    The contacts are fixed when the job is made (a snapshot of the audience), so a preview's
    number is the number changed. Progress, failures and follow-ups are rows, so a page can show
    them live and a restarted worker can carry on.
    """

    class Kind(models.TextChoices):
        APPLY = "apply", "Apply labels"
        MERGE = "merge", "Merge labels"
        RESTORE = "restore", "Restore a deleted label"
        AUDIENCE = "audience", "Save audience as label"
        LIVING = "living", "Keep a living label"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        PARTIAL = "partial", "Done with failures"
        FAILED = "failed", "Failed"
        # Wix did not finish its bulk job before LABEL_JOB_DEADLINE_SECONDS; "Look again" follows
        # the same Wix job further (nothing is sent twice).
        STUCK = "stuck", "Stuck in Wix"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.APPLY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    description = models.CharField(max_length=400)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    add_keys = models.JSONField(default=list, blank=True)
    remove_keys = models.JSONField(default=list, blank=True)
    contact_ids = models.JSONField(default=list, blank=True)  # Wix contact ids
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    chunks_finished = models.PositiveIntegerField(default=0)
    wix_job_ids = models.JSONField(default=list, blank=True)
    errors = models.JSONField(default=list, blank=True)
    # Wix ids of the contacts Wix reported as failed, for the person to see and retry.
    failed_contact_ids = models.JSONField(default=list, blank=True)
    # Labels to delete (Wix first, then here) once every contact has the target: merges.
    delete_keys_after = models.JSONField(default=list, blank=True)
    outcome = models.TextField(blank=True)
    # The journal's operation this job carries out (it is done when its jobs are).
    operation = models.ForeignKey(
        Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # host:pid of the worker running it and when it last moved: a job whose worker died is
    # picked up again by the settling task (it follows the Wix jobs it already started).
    process = models.CharField(max_length=120, blank=True)
    # A retry of another job's failed contacts: one at a time per job.
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    objects = LabelJobManager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def is_finished(self) -> bool:
        """Ended for good (a stuck job is not: "Look again" may still see it through)."""
        return self.status in (self.Status.SUCCEEDED, self.Status.PARTIAL, self.Status.FAILED)

    @property
    def progress_percent(self) -> int:
        if not self.is_active:
            return 100
        if not self.total:
            return 0
        return min(99, round(100 * (self.done + self.failed) / self.total))


class LabelDeletion(models.Model):
    """A label deleted here, alone or merged away, kept so that it can be restored for a while.

    Wix never reuses a key, so a restore makes a new label with the same name and applies it
    again to exactly the contacts listed here.
    """

    display_name = models.CharField(max_length=180)
    key = models.CharField(max_length=255)
    label_type = models.CharField(max_length=16, choices=cache.Label.Type.choices)
    contact_ids = models.JSONField(default=list, blank=True)  # Wix ids of the contacts that had it
    contact_count = models.PositiveIntegerField(default=0)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    deleted_at = models.DateTimeField(auto_now_add=True)
    # Set when the label was merged away: the merge's job, and the label it was merged into.
    merge_job = models.ForeignKey(
        LabelJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    merged_into = models.CharField(max_length=180, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    restored_key = models.CharField(max_length=255, blank=True)
    restore_job = models.ForeignKey(
        LabelJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The operation that deleted it (written, with this row, before Wix was asked).
    operation = models.ForeignKey(
        Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-deleted_at", "-id"]
        indexes = [
            models.Index(fields=["restored_at", "deleted_at"], name="labeldeletion_open_idx")
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.key}), deleted"


class LabelNote(models.Model):
    """What labelsite keeps about a label that Wix has no field for: what it is for, and a
    colour to tell it apart on chips. Local only: nothing here is sent to Wix.

    Keyed by the label's key rather than a foreign key: cached labels come and go with Wix, and
    a deleted label restored by undo comes back under a new key, to which its note moves
    (`labels.services.label_restored`)."""

    class Colour(models.TextChoices):
        NONE = "", "No colour"
        RED = "red", "Red"
        ORANGE = "orange", "Orange"
        YELLOW = "yellow", "Yellow"
        GREEN = "green", "Green"
        TEAL = "teal", "Teal"
        BLUE = "blue", "Blue"
        PURPLE = "purple", "Purple"
        PINK = "pink", "Pink"
        GREY = "grey", "Grey"

    DESCRIPTION_MAX_LENGTH = 500

    key = models.CharField(max_length=255, unique=True)
    description = models.TextField(blank=True, max_length=DESCRIPTION_MAX_LENGTH)
    colour = models.CharField(max_length=8, choices=Colour.choices, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        default_permissions = ()  # written by whoever may change the label (labels.change_label)

    def __str__(self) -> str:
        return f"note on {self.key}"
