from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from contacts.webhooks import WebhookMalformed, WebhookRejected, webhook_apply, webhook_decode


@csrf_exempt  # Wix cannot send our CSRF token; the RS256 signature authenticates the request.
@require_POST
def wix_webhook(request: HttpRequest) -> HttpResponse:
    try:
        event = webhook_decode(request.body.decode("utf-8", errors="replace"))
        outcome = webhook_apply(event)
    except WebhookRejected as error:
        return HttpResponse(str(error), status=401, content_type="text/plain")
    except WebhookMalformed as error:
        return HttpResponse(str(error), status=400, content_type="text/plain")
    return JsonResponse({"outcome": outcome})
