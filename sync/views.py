"""The sync's endpoints: Wix's webhooks, "Sync now" and a run's live progress."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from labelsite.views import HtmxHttpRequest, permission_required
from labelsite.wix.webhooks import WebhookMalformed, WebhookRejected
from sync.forms import SyncRequestForm
from sync.models import SyncRun
from sync.service import SyncAlreadyRunning
from sync.tasks import sync_request
from sync.webhooks import webhook_apply, webhook_decode

RUN_PAGE = "admin/sync/syncrun/change_form.html"
WEBHOOK_MAX_BYTES = 1024 * 1024


@csrf_exempt  # Wix cannot send our CSRF token; the RS256 signature authenticates the request.
@require_POST
def wix_webhook(request: HttpRequest) -> HttpResponse:
    # Read before the signature is checked, so kept small (forms may hold 10 MB; a Wix event
    # is a few kB).
    if int(request.META.get("CONTENT_LENGTH") or 0) > WEBHOOK_MAX_BYTES:
        return HttpResponse("Too large for a Wix event.", status=413, content_type="text/plain")
    try:
        event = webhook_decode(request.body.decode("utf-8", errors="replace"))
        outcome = webhook_apply(event)
    except WebhookRejected as error:
        return HttpResponse(str(error), status=401, content_type="text/plain")
    except WebhookMalformed as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    return JsonResponse({"outcome": outcome})


@require_POST
@permission_required("sync.run_sync")
def sync_now(request: HtmxHttpRequest) -> HttpResponse:
    form = SyncRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["kind"]))
        return redirect("admin:sync_syncrun_changelist")
    try:
        run = sync_request(
            kind=form.cleaned_data["kind"],
            requested_by=request.user,
            allow_mass_delete=form.cleaned_data["allow_mass_delete"] or 0,
        )
    except SyncAlreadyRunning as error:
        messages.warning(request, str(error))
        if error.run is not None:
            return redirect("admin:sync_syncrun_change", error.run.pk)
        return redirect("admin:sync_syncrun_changelist")
    messages.success(request, f"{run.get_kind_display()} sync #{run.pk} started.")
    return redirect("admin:sync_syncrun_change", run.pk)


@require_GET
@permission_required("sync.view_syncrun")
def sync_progress(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(SyncRun, pk=run_id)
    if request.htmx and run.status != SyncRun.Status.RUNNING:
        # The run just ended: reload the page so that every field shows the final state.
        return HttpResponseClientRefresh()
    return TemplateResponse(request, f"{RUN_PAGE}#sync-progress", {"run": run})
