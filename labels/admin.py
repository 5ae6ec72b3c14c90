from django.contrib import admin

from labels.job_admin import LabelJobAdmin  # noqa: F401  (registers the job pages)
from labels.models import Label


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["display_name", "label_type", "key", "remote_updated_at"]
    list_filter = ["label_type"]
    search_fields = ["display_name", "key"]
    readonly_fields = [f.name for f in Label._meta.fields]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


