from django.contrib import admin
from django.shortcuts import redirect
from django.urls import path

from labels import views
from labels.models import Label, LabelJob
from labelsite.admin import ReadOnlyModelAdmin


@admin.register(Label)
class LabelAdmin(ReadOnlyModelAdmin):
    """The labels page (labels/views.py) in place of the stock change list.

    The stock add, change and delete pages would write only to the cache, never to Wix, so they
    are closed: the label page's own endpoints call the services, which write to Wix first.
    The change page stays as a read-only view, and the history page shows every change.
    """

    readonly_fields = [f.name for f in Label._meta.fields]

    def get_urls(self):
        def wrap(view):
            return self.admin_site.admin_view(view)

        return [
            path("new/", wrap(views.label_create_view), name="labels_label_create"),
            path("merge/", wrap(views.label_merge_preview_view), name="labels_label_merge_preview"),
            path("merge/run/", wrap(views.label_merge_view), name="labels_label_merge"),
            path("deletions/", wrap(views.label_deletions), name="labels_label_deletions"),
            path("overlap/", wrap(views.label_overlap_view), name="labels_label_overlap"),
            path(
                "deletions/<int:deletion_id>/undo/",
                wrap(views.label_undo),
                name="labels_label_undo",
            ),
            # A label's page. Keys always hold a dot ("custom.vip"), so "label/<key>/" never
            # meets the "<key>/row/"-style routes below, nor the admin's "<object_id>/" ones.
            path("label/<str:key>/", wrap(views.label_detail), name="labels_label_detail"),
            path("<str:key>/row/", wrap(views.label_row), name="labels_label_row"),
            path("<str:key>/edit/", wrap(views.label_edit), name="labels_label_edit"),
            path("<str:key>/rename/", wrap(views.label_rename_view), name="labels_label_rename"),
            path("<str:key>/note/", wrap(views.label_note_view), name="labels_label_note"),
            path(
                "<str:key>/delete/confirm/",
                wrap(views.label_delete_confirm),
                name="labels_label_delete_confirm",
            ),
            path("<str:key>/delete/", wrap(views.label_delete_view), name="labels_label_remove"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        return views.label_page(request)

    def add_view(self, request, form_url="", extra_context=None):
        return redirect("admin:labels_label_changelist")


@admin.register(LabelJob)
class LabelJobAdmin(ReadOnlyModelAdmin):
    list_display = ["__str__", "description", "status", "done", "failed", "total", "created_at"]
    list_filter = ["kind", "status"]
    exclude = ["contact_ids", "failed_contact_ids"]  # long id lists; the progress box names them
    change_form_template = "admin/labels/labeljob/change_form.html"

    def get_urls(self):
        return [
            path(
                "<int:job_id>/progress/",
                self.admin_site.admin_view(views.label_job_progress),
                name="labels_labeljob_progress",
            ),
            path(
                "<int:job_id>/retry/",
                self.admin_site.admin_view(views.label_job_retry),
                name="labels_labeljob_retry",
            ),
            path(
                "<int:job_id>/undo/",
                self.admin_site.admin_view(views.label_job_undo),
                name="labels_labeljob_undo",
            ),
            path(
                "<int:job_id>/look-again/",
                self.admin_site.admin_view(views.label_job_again),
                name="labels_labeljob_look_again",
            ),
            *super().get_urls(),
        ]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("contact_ids")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        can = job is not None and views.can_act_again(request.user, job)
        extra_context = {**(extra_context or {}), "can_act_again": can}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in LabelJob._meta.fields if f.name not in self.exclude]
