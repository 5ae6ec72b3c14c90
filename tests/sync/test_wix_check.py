"""`manage.py wix_check` against the sandbox: every question answered, nothing left behind."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from sync.models import WebhookEvent
from sync.wix_check import wix_check

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("wix_check", *args, stdout=out)
    return out.getvalue()


def test_read_only_answers_what_it_can_and_changes_nothing(sandbox, wix_settings):
    sandbox.reset(contacts=1200, labels=5, seed=51)
    before = sandbox.dump()

    output = run()

    assert "OK  Does Wix serve pages shorter than asked for while more remain?" in output
    assert "Wix: not here (contacts: 1000 of 1200" in output
    assert "OK  Does Query Contacts accept `$and`?" in output
    assert "Wix: at least 1000 ids" in output
    assert "no label webhook has arrived here yet" in output
    assert "Run with --write" in output
    assert sandbox.dump() == before


def test_write_probes_label_changes_and_bulk_jobs_and_removes_its_throwaways(sandbox, wix_settings):
    sandbox.reset(contacts=10, labels=3, seed=52)
    sandbox.control("POST", "bulk-jobs/pace", {"itemsPerSecond": 0})
    before = sandbox.dump()

    output = run("--write")

    assert "OK  How does Unlabel Contact take its keys?" in output
    assert "Wix: as repeated query parameters" in output
    assert "OK  What does Get Bulk Job answer?" in output
    assert "removed the throwaway label and contact again" in output
    after = sandbox.dump()
    assert [c["id"] for c in after["contacts"]] == [c["id"] for c in before["contacts"]]
    assert {lb["key"] for lb in after["labels"]} == {lb["key"] for lb in before["labels"]}


def test_short_pages_are_reported(sandbox, wix_settings):
    sandbox.reset(contacts=1200, labels=2, seed=53)
    sandbox.set_faults("short_pages=400")
    output = run()
    assert "Wix: yes, for contacts" in output


def test_label_event_types_seen_here_are_listed(sandbox, wix_settings, sync_client):
    WebhookEvent.objects.create(
        event_id="e1", event_type="wix.contacts.v4.label_created", entity_id="custom.a"
    )
    findings = {f.question: f for f in wix_check(client=sync_client, say=lambda _: None)}
    events = findings["Which event types do label webhooks carry?"]
    assert events.found == "wix.contacts.v4.label_created"
    assert events.ok


def test_without_settings_it_says_which_is_missing(settings):
    settings.WIX_API_KEY = ""
    settings.WIX_SITE_ID = ""
    with pytest.raises(CommandError, match="WIX_API_KEY is not set"):
        run()
