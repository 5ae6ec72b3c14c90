"""The admin pages of sync runs: the run history, "Sync now" and live progress (sync/views.py)."""

from django.contrib import admin
from django.urls import path

from labelsite import words
from labelsite.admin import ReadOnlyModelAdmin
from sync import views
from sync.models import SyncRun


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyModelAdmin):
    list_display = ["__str__", "status", "started_at", "took", "contacts", "requested_by"]
    list_filter = ["kind", "status"]
    list_select_related = ["requested_by"]
    readonly_fields = ["took"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "kind",
                    "status",
                    "requested_by",
                    "started_at",
                    "finished_at",
                    "took",
                    "error",
                ]
            },
        ),
        (
            "Counts",
            {
                "fields": [
                    ("contacts_created", "contacts_updated", "contacts_deleted"),
                    ("labels_created", "labels_updated", "labels_deleted"),
                    ("contacts_seen", "contacts_total", "pages", "requests"),
                    "contacts_set_aside",
                ]
            },
        ),
        (
            "Bookkeeping",
            {
                "classes": ["collapse"],
                "fields": ["watermark", "heartbeat_at", "resumed_from", "checkpoint", "notes"],
            },
        ),
    ]
    change_list_template = "admin/sync/syncrun/change_list.html"
    change_form_template = views.RUN_PAGE

    @admin.display(description="Took")
    def took(self, run: SyncRun) -> str:
        took = words.duration(run.duration)
        return f"{took} so far" if run.status == SyncRun.Status.RUNNING else took

    @admin.display(description="Contacts")
    def contacts(self, run: SyncRun) -> str:
        if run.status == SyncRun.Status.RUNNING:
            return f"{words.counted(run.contacts_seen, 'contact')} read so far"
        return words.changes(run.contacts_created, run.contacts_updated, run.contacts_deleted)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("sync-now/", wrap(views.sync_now), name="sync_syncrun_sync_now"),
            path(
                "<int:run_id>/progress/",
                wrap(views.sync_progress),
                name="sync_syncrun_progress",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_run_sync": request.user.has_perm("sync.run_sync"),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "run": run,
            "can_run_sync": request.user.has_perm("sync.run_sync"),
            # A waiting run that a later one replaced (confirmed, or found less to delete).
            "superseded": run is not None and SyncRun.objects.filter(pk__gt=run.pk).exists(),
        }
        return super().change_view(request, object_id, form_url, extra_context)
