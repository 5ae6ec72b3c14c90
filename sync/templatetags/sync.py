from django import template

from sync.models import SyncRun

register = template.Library()


@register.inclusion_tag("admin/sync/syncrun/last_run.html", takes_context=True)
def last_sync_run(context):
    user = context["request"].user
    if not user.has_perm("sync.view_syncrun"):
        return {"visible": False}
    return {
        "visible": True,
        "run": SyncRun.objects.first(),
        "can_run_sync": user.has_perm("sync.run_sync"),
        "csrf_token": context.get("csrf_token"),
    }
