"""Production settings: `check --deploy`, security headers, and the Wix API key kept secret."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.views.debug import technical_500_response

from labelsite.wix import WixClient, WixPermissionDenied
from sync.models import SyncRun
from sync.service import sync_wix
from tests.sandbox import SandboxProcess

ROOT = Path(__file__).resolve().parent.parent
SECRET_API_KEY = "wix-api-key-that-must-never-show-0123456789"
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "p" * 20 + "roduction-secret-key-with-enough-entropy-0123456789",
    "ALLOWED_HOSTS": "labels.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://labels.example.com",
    "DATABASE_URL": "sqlite:////tmp/labelsite-deploy-check.sqlite3",
    "WIX_API_KEY": SECRET_API_KEY,
    "WIX_SITE_ID": "site",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def test_check_deploy_is_clean_with_the_documented_production_settings():
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECURE_", "DEBUG", "DJANGO_ALLOW"))
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**env, **PRODUCTION},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_pages_carry_a_content_security_policy_with_a_nonce(admin_client):
    response = admin_client.get(reverse("admin:index"))
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.content.decode()  # htmx's script tag carries it


@pytest.fixture
def secret_sandbox():
    with SandboxProcess(api_key=SECRET_API_KEY, contacts=50, labels=3) as sandbox:
        yield sandbox


@pytest.mark.django_db
def test_the_api_key_never_reaches_logs_pages_or_error_pages(
    secret_sandbox, settings, admin_client, caplog
):
    settings.WIX_API_BASE_URL = secret_sandbox.url
    settings.WIX_API_KEY = SECRET_API_KEY
    settings.WIX_SITE_ID = secret_sandbox.site_id
    settings.WIX_MAX_REQUESTS_PER_MINUTE = 0
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    with WixClient.from_settings(backoff_base=0.01, backoff_cap=0.02) as client:
        run = sync_wix(kind=SyncRun.Kind.FULL, client=client)
        seen += [repr(client), str(client.config)]
    assert run.status == SyncRun.Status.SUCCEEDED

    # A refusal from Wix, as a person would see it.
    settings.WIX_SITE_ID = "another-site"
    with WixClient.from_settings(max_retries=0) as client:
        with pytest.raises(WixPermissionDenied) as refusal:
            client.get_label("custom.anything")
        seen += [str(refusal.value), repr(refusal.value)]

    for url in (
        reverse("admin:index"),
        reverse("admin:sync_syncrun_changelist"),
        reverse("admin:sync_syncrun_change", args=[run.pk]),
        reverse("admin:contacts_contact_changelist"),
        reverse("admin:labels_label_changelist"),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        seen.append(response.content.decode())

    # Django's debug error page (DEBUG on) lists the settings: the key must be masked there.
    settings.DEBUG = True
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        page = technical_500_response(RequestFactory().get("/"), *sys.exc_info())
    seen.append(page.content.decode())

    seen += [record.getMessage() for record in caplog.records]
    assert caplog.records, "expected the client to log its requests"
    assert any("WIX_API_KEY" in text for text in seen)  # the debug page names the setting
    assert not [text for text in seen if SECRET_API_KEY in text]
