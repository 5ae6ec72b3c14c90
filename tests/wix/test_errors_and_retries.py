import logging

import pytest

from labelsite.wix import (
    WixAuthError,
    WixError,
    WixNotFound,
    WixPermissionDenied,
    WixRateLimited,
    WixUnavailable,
)


def test_wrong_key_is_an_auth_error(make_client):
    wix = make_client(api_key="wrong-key-never-valid")

    with pytest.raises(WixAuthError) as info:
        wix.query_labels()

    assert info.value.status == 401
    assert info.value.code == "UNAUTHENTICATED"
    assert wix.request_count == 1
    assert wix.retry_count == 0
    assert str(info.value) == (
        "Wix did not accept the API key (HTTP 401). Check the WIX_API_KEY setting."
    )


def test_wrong_site_id_is_permission_denied(make_client):
    wix = make_client(site_id="not-this-site")

    with pytest.raises(WixPermissionDenied) as info:
        wix.find_or_create_label("Nope")

    assert info.value.status == 403
    assert info.value.code == "PERMISSION_DENIED"
    assert "WIX_SITE_ID" in str(info.value)


def test_all_errors_share_one_base_class(wix):
    with pytest.raises(WixError) as info:
        wix.label_contact("missing", ["contacts.customers"])
    assert isinstance(info.value, WixNotFound)
    assert info.value.message
    assert info.value.method == "POST"
    assert info.value.path == "/contacts/v4/contacts/missing/labels"
    assert wix.retry_count == 0


def test_injected_faults_are_retried_until_every_call_succeeds(make_client, sandbox):
    wix = make_client(max_retries=12)
    keys = [wix.find_or_create_label(f"Fault {i}")[0].key for i in range(3)]
    sandbox.reset_stats()
    sandbox.set_faults("429=0.3,503=0.3,reset=0.1", seed=3)
    before = wix.request_count

    names = [wix.get_label(keys[i % 3]).display_name for i in range(40)]
    listed = wix.query_labels().labels

    assert names == [f"Fault {i % 3}" for i in range(40)]
    assert {lbl.key for lbl in listed} >= set(keys)
    assert wix.retry_count > 0
    assert wix.request_count - before == 41 + wix.retry_count
    assert all(0 <= s <= 0.05 for s in wix.sleeps)
    by_status = {str(k): v for k, v in sandbox.stats()["byStatus"].items()}
    assert by_status.get("429", 0) > 0
    assert by_status.get("503", 0) > 0
    assert by_status.get("200", 0) == 41


def test_exhausted_retries_on_503_raise_unavailable(make_client, sandbox):
    wix = make_client(max_retries=3)
    sandbox.set_faults("503=1")

    with pytest.raises(WixUnavailable) as info:
        wix.query_labels()

    error = info.value
    assert error.status == 503
    assert wix.request_count == 4
    assert wix.retry_count == 3
    assert str(error) == (
        "Wix is not answering right now (HTTP 503). Nothing was changed; try again in a minute."
    )
    assert all(0 <= s <= 0.05 for s in wix.sleeps)


def test_a_refused_connection_never_reached_wix_and_says_nothing_changed(make_client):
    from tests.fixtures.crash import free_port

    wix = make_client(max_retries=2, base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(WixUnavailable) as info:
        wix.find_or_create_label("Never sent")
    assert info.value.reached is False
    assert str(info.value) == (
        "Wix could not be reached (connection error). Nothing was changed; try again when Wix "
        "is back."
    )


def test_a_read_timeout_may_have_reached_wix(make_client, sandbox):
    # One attempt that timed out reading is enough: Wix may have the request.
    wix = make_client(max_retries=1, read_timeout=0.2)
    sandbox.set_faults("late_answers=600ms")
    with pytest.raises(WixUnavailable) as info:
        wix.find_or_create_label("Maybe sent")
    assert info.value.reached is True
    assert "Nothing was changed" not in str(info.value)


def test_exhausted_retries_on_connection_resets_raise_unavailable(make_client, sandbox):
    wix = make_client(max_retries=2)
    sandbox.set_faults("reset=1")

    with pytest.raises(WixUnavailable) as info:
        wix.get_label("contacts.customers")

    assert info.value.status is None
    assert str(info.value).startswith("Wix could not be reached (connection")
    assert wix.request_count == 3


def test_a_slow_answer_is_a_read_timeout_and_is_retried(make_client, sandbox):
    wix = make_client(max_retries=1, read_timeout=0.05)
    sandbox.set_faults("latency=400-500ms")

    with pytest.raises(WixUnavailable, match="read timeout"):
        wix.get_label("contacts.customers")
    assert wix.request_count == 2


def test_label_changes_are_retried_through_faults_and_converge(make_client, sandbox):
    wix = make_client(max_retries=12)
    keys = [wix.find_or_create_label(f"Converge {i}")[0].key for i in range(2)]
    made = sandbox.api("POST", "/contacts/v4/contacts", json={"info": {}}).json()["contact"]
    sandbox.set_faults("503=0.4,reset=0.2", seed=11)

    labelled = wix.label_contact(made["id"], keys)
    unlabelled = wix.unlabel_contact(made["id"], keys[:1])
    page = wix.query_contacts(filter={"id": {"$eq": made["id"]}})

    assert wix.retry_count > 0
    assert set(labelled.label_keys) == set(keys)
    assert unlabelled.label_keys == (keys[1],)
    assert [c.label_keys for c in page.contacts] == [(keys[1],)]
    sandbox.set_faults("")
    assert sandbox.dump()["contacts"][0]["labelKeys"] == [keys[1]]


def test_rate_limit_honours_retry_after_then_gives_up(make_client, sandbox):
    wix = make_client(max_retries=2, backoff_cap=0.05)
    sandbox.set_rate_limit(3)

    for _ in range(3):
        wix.get_label("contacts.customers")
    with pytest.raises(WixRateLimited) as info:
        wix.get_label("contacts.customers")

    error = info.value
    assert error.status == 429
    assert error.code == "RESOURCE_EXHAUSTED"
    assert error.retry_after is not None
    assert error.retry_after > 0
    # Retry-After is honoured, capped at backoff_cap (a full minute would stall the tests).
    assert wix.sleeps == [0.05, 0.05]
    assert f"try again in {error.retry_after:g} seconds" in str(error)
    assert sandbox.stats()["byStatus"].get("429", sandbox.stats()["byStatus"].get(429)) == 3


def test_retry_after_below_the_cap_is_used_as_is(make_client, sandbox):
    wix = make_client(max_retries=1, backoff_cap=1000.0)
    sandbox.set_rate_limit(1)
    wix.get_label("contacts.customers")

    with pytest.raises(WixRateLimited) as info:
        wix.get_label("contacts.customers")

    assert wix.sleeps == [info.value.retry_after]
    assert 0 < wix.sleeps[0] <= 60


def test_the_client_paces_itself_under_the_sandbox_rate_limit(make_client, sandbox):
    """One request every 60/N seconds, measured on an injected clock, never the wall."""
    now = [0.0]

    def fake_sleep(seconds):
        now[0] += seconds

    wix = make_client(max_requests_per_minute=120, clock=lambda: now[0], sleep=fake_sleep)
    for _ in range(5):
        wix.get_label("contacts.customers")

    assert now[0] == pytest.approx(4 * 0.5)
    assert wix.retry_count == 0


def test_logs_and_errors_never_show_the_key(make_client, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    wix = make_client(max_retries=1)
    bad = make_client(api_key="wrong-secret-key-xyz")
    errors = []

    wix.find_or_create_label("Logged")
    sandbox.set_faults("503=1")
    for client in (wix, bad):
        with pytest.raises(WixError) as info:
            client.get_label("custom.logged")
        errors.append(info.value)
    sandbox.set_faults("")
    with pytest.raises(WixAuthError) as info:
        bad.get_label("custom.logged")
    errors.append(info.value)

    assert "GET /contacts/v4/labels/custom.logged -> 503" in caplog.text
    assert "attempt 2" in caplog.text
    for secret in (sandbox.api_key, "wrong-secret-key-xyz"):
        assert secret not in caplog.text
        assert all(secret not in str(r.args) for r in caplog.records)
        for error in errors:
            assert secret not in str(error)
            assert secret not in repr(error)
            assert secret not in repr(vars(error))
        assert secret not in repr(wix) + repr(bad) + repr(wix.config) + repr(bad.config)
    assert "Authorization" not in caplog.text
