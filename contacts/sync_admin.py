"""The admin pages of sync runs: "Sync now", live progress, and the run history."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from contacts.models import SyncRun
from contacts.sync import SyncAlreadyRunning, sync_run_start
from contacts.tasks import run_sync
from labelsite.admin import ReadOnlyModelAdmin


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyModelAdmin):
    list_display = [
        "__str__",
        "status",
        "started_at",
        "duration",
        "contacts_created",
        "contacts_updated",
        "contacts_deleted",
        "requested_by",
    ]
    list_filter = ["kind", "status"]
    fieldsets = [
        (
            None,
            {"fields": ["kind", "status", "requested_by", "started_at", "finished_at", "error"]},
        ),
        (
            "Counts",
            {
                "fields": [
                    ("contacts_created", "contacts_updated", "contacts_deleted"),
                    ("labels_created", "labels_updated", "labels_deleted"),
                    ("contacts_seen", "contacts_total", "pages", "requests"),
                ]
            },
        ),
        (
            "Bookkeeping",
            {
                "classes": ["collapse"],
                "fields": ["watermark", "heartbeat_at", "resumed_from", "checkpoint"],
            },
        ),
    ]
    change_list_template = "admin/contacts/syncrun/change_list.html"
    change_form_template = "admin/contacts/syncrun/change_form.html"

    def get_urls(self):
        return [
            path(
                "sync-now/",
                self.admin_site.admin_view(self.sync_now_view),
                name="contacts_syncrun_sync_now",
            ),
            path(
                "<int:run_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="contacts_syncrun_progress",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_run_sync": request.user.has_perm("contacts.run_sync"),
        }
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra_context = {**(extra_context or {}), "run": run}
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    @require_POST
    def sync_now_view(request):
        if not request.user.has_perm("contacts.run_sync"):
            raise PermissionDenied
        kind = request.POST.get("kind", SyncRun.Kind.INCREMENTAL)
        if kind not in SyncRun.Kind.values:
            messages.error(request, "Unknown kind of sync.")
            return redirect("admin:contacts_syncrun_changelist")
        try:
            run = sync_run_start(kind=kind, requested_by=request.user, claim=False)
        except SyncAlreadyRunning as error:
            messages.warning(request, str(error))
            if error.run is not None:
                return redirect("admin:contacts_syncrun_change", error.run.pk)
            return redirect("admin:contacts_syncrun_changelist")
        run_sync.enqueue(run.pk)
        messages.success(request, f"{run.get_kind_display()} sync #{run.pk} started.")
        return redirect("admin:contacts_syncrun_change", run.pk)

    @staticmethod
    @require_GET
    def progress_view(request, run_id: int):
        if not request.user.has_perm("contacts.view_syncrun"):
            raise PermissionDenied
        run = get_object_or_404(SyncRun, pk=run_id)
        if request.htmx and run.status != SyncRun.Status.RUNNING:
            # The run just ended: reload the page so that every field shows the final state.
            return HttpResponseClientRefresh()
        return TemplateResponse(
            request, "admin/contacts/syncrun/change_form.html#sync-progress", {"run": run}
        )
