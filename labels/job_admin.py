"""Admin pages of label jobs: the history, and the live progress partial other pages embed."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path
from django.views.decorators.http import require_GET
from django_htmx.http import trigger_client_event

from labels.models import LabelJob
from labelsite.admin import ReadOnlyModelAdmin

PROGRESS_TEMPLATE = "admin/labels/labeljob/progress.html"


def can_watch(user, job: LabelJob) -> bool:
    return job.requested_by_id == user.pk or user.has_perm("labels.view_labeljob")


@require_GET
def label_job_progress(request, job_id: int):
    """The progress partial; polls itself while the job runs, and announces the end."""
    job = get_object_or_404(LabelJob, pk=job_id)
    if not can_watch(request.user, job):
        raise PermissionDenied
    response = TemplateResponse(request, f"{PROGRESS_TEMPLATE}#job-progress", {"job": job})
    if not job.is_active:
        trigger_client_event(response, "labelJobFinished", {"id": job.pk, "status": job.status})
    return response


@admin.register(LabelJob)
class LabelJobAdmin(ReadOnlyModelAdmin):
    list_display = ["__str__", "description", "status", "done", "failed", "total", "created_at"]
    list_filter = ["kind", "status"]
    exclude = ["contact_ids"]
    change_form_template = "admin/labels/labeljob/change_form.html"

    def get_urls(self):
        return [
            path(
                "<int:job_id>/progress/",
                self.admin_site.admin_view(label_job_progress),
                name="labels_labeljob_progress",
            ),
            *super().get_urls(),
        ]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in LabelJob._meta.fields if f.name != "contact_ids"]
