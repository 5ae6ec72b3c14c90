import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
import requests

from tests.sandbox import ROOT, SandboxProcess

LABELS = "/contacts/v4/labels"


def raw(sandbox, method, path, headers=None, data=None):
    return requests.request(method, sandbox.url + path, headers=headers, data=data, timeout=10)


def app_code(response):
    return response.json()["details"]["applicationError"]["code"]


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "UNAUTHENTICATED"),
        ({"Authorization": "wrong", "wix-site-id": "test-site-id"}, 401, "UNAUTHENTICATED"),
        (
            {"Authorization": "Bearer test-api-key", "wix-site-id": "test-site-id"},
            401,
            "UNAUTHENTICATED",
        ),
        ({"Authorization": "test-api-key"}, 403, "PERMISSION_DENIED"),
        ({"Authorization": "test-api-key", "wix-site-id": "other"}, 403, "PERMISSION_DENIED"),
        (
            {"Authorization": "test-api-key", "wix-site-id": "test-site-id", "wix-account-id": "a"},
            400,
            "INVALID_ARGUMENT",
        ),
    ],
)
def test_auth_errors(sandbox, headers, status, code):
    response = raw(sandbox, "GET", LABELS, headers)

    assert response.status_code == status
    assert app_code(response) == code
    assert response.json()["message"]


def test_unknown_paths_methods_and_bodies(sandbox):
    unknown = sandbox.api("GET", "/contacts/v4/nothing-here")
    wrong_method = sandbox.api("PUT", LABELS)
    headers = {"Authorization": "test-api-key", "wix-site-id": "test-site-id"}
    malformed = raw(sandbox, "POST", LABELS, headers, data=b'{"displayName": ')
    not_object = raw(sandbox, "POST", LABELS, headers, data=b"[1, 2]")

    assert (unknown.status_code, app_code(unknown)) == (404, "NOT_FOUND")
    assert (wrong_method.status_code, app_code(wrong_method)) == (405, "METHOD_NOT_ALLOWED")
    assert malformed.status_code == 400
    assert "validationError" in malformed.json()["details"]
    assert not_object.status_code == 400


def test_rate_limit_answers_429_with_retry_after(sandbox):
    sandbox.set_rate_limit(5)

    statuses = [sandbox.api("GET", LABELS).status_code for _ in range(5)]
    refused = sandbox.api("GET", LABELS)
    health = sandbox.control("GET", "health")

    assert statuses == [200] * 5
    assert refused.status_code == 429
    assert app_code(refused) == "RESOURCE_EXHAUSTED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert health["ok"] is True
    sandbox.set_rate_limit(0)
    assert sandbox.api("GET", LABELS).status_code == 200


def statuses_for(sandbox, spec, seed, count=60):
    sandbox.set_faults(spec, seed=seed)
    seen = []
    for _ in range(count):
        try:
            response = sandbox.api("GET", LABELS)
        except requests.ConnectionError:
            seen.append("reset")
            continue
        seen.append(response.status_code)
        if response.status_code >= 500:
            assert response.content == b""
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "1"
    return seen


def test_faults_repeat_with_the_same_seed(sandbox):
    spec = "500=0.2,503=0.1,429=0.1,reset=0.1"

    first = statuses_for(sandbox, spec, seed=42)
    second = statuses_for(sandbox, spec, seed=42)
    other = statuses_for(sandbox, spec, seed=43)

    assert first == second
    assert first != other
    assert {200, 500, 503, 429, "reset"} <= set(first)
    assert sandbox.control("GET", "health")["ok"] is True
    sandbox.set_faults("")
    assert statuses_for(sandbox, "", seed=None, count=5) == [200] * 5


def test_latency_fault_delays_answers(sandbox):
    sandbox.set_faults("latency=80-90ms", seed=1)

    started = time.monotonic()
    response = sandbox.api("GET", LABELS)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.08


def test_bad_fault_spec_is_refused(sandbox):
    response = requests.post(f"{sandbox.url}/_sandbox/faults", json={"spec": "500=2"}, timeout=10)

    assert response.status_code == 400
    assert "probability" in response.json()["error"]


def test_stats_count_api_requests_only(sandbox):
    sandbox.api("GET", LABELS)
    sandbox.api("GET", f"{LABELS}/custom.nope")
    sandbox.api("POST", "/contacts/v4/contacts/query", json={})
    sandbox.control("GET", "health")

    stats = sandbox.stats()

    assert stats == {
        "requests": 3,
        "byStatus": {"200": 2, "404": 1},
        "byRoute": {
            "GET /contacts/v4/labels": 1,
            "GET /contacts/v4/labels/{key}": 1,
            "POST /contacts/v4/contacts/query": 1,
        },
        "busiestMinute": 3,  # the most API requests seen in any 60 s
    }
    sandbox.reset_stats()
    assert sandbox.stats()["requests"] == 0
    assert sandbox.stats()["busiestMinute"] == 0


def test_seed_is_deterministic_and_skewed(sandbox):
    sandbox.reset(contacts=3000, labels=40, seed=11)
    first = sandbox.dump()
    sandbox.reset(contacts=3000, labels=40, seed=11)
    again = sandbox.dump()
    sandbox.reset(contacts=3000, labels=40, seed=12)
    other = sandbox.dump()

    assert first == again
    assert first["contacts"] != other["contacts"]
    assert len(first["labels"]) == 42
    uses = {label["key"]: 0 for label in first["labels"]}
    for contact in first["contacts"]:
        for key in contact["labelKeys"]:
            uses[key] += 1
    counts = sorted(uses.values(), reverse=True)
    assert 0.25 * 3000 < counts[0] < 0.45 * 3000
    assert counts[-1] < 0.02 * 3000
    assert uses["contacts.customers"] > 0
    assert uses["contacts.contacted-me"] > 0
    created = [contact["createdDate"] for contact in first["contacts"]]
    assert created == sorted(created)
    assert created[-1][:4] > created[0][:4]


def test_state_file_survives_a_restart(tmp_path):
    state = tmp_path / "sandbox.json"
    with SandboxProcess(contacts=20, labels=3, state_file=state) as sandbox:
        key = sandbox.api("POST", LABELS, json={"displayName": "Kept"}).json()["label"]["key"]
        contact_id = sandbox.dump()["contacts"][0]["id"]
        sandbox.api("POST", f"/contacts/v4/contacts/{contact_id}/labels", json={"labelKeys": [key]})
        sandbox.api("DELETE", f"{LABELS}/custom.lead")
        before = sandbox.dump()

    with SandboxProcess(contacts=5, state_file=state) as restarted:
        after = restarted.dump()
        reused = restarted.api("POST", LABELS, json={"displayName": "Lead"}).json()["label"]

    assert after == before
    assert len(after["contacts"]) == 20
    assert reused["key"] == "custom.lead-2"


def test_webhooks_are_signed_and_in_order(sandbox):
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        sandbox.control("POST", "webhooks/url", {"url": url})
        key = sandbox.api("POST", LABELS, json={"displayName": "Hooked"}).json()["label"]["key"]
        sandbox.api("PATCH", f"{LABELS}/{key}", json={"label": {"displayName": "Hooked 2"}})
        contact = sandbox.api(
            "POST", "/contacts/v4/contacts", json={"info": {"labelKeys": {"items": [key]}}}
        ).json()["contact"]
        sandbox.api("DELETE", f"{LABELS}/{key}")
        sandbox.api("DELETE", f"/contacts/v4/contacts/{contact['id']}")
        flushed = sandbox.control("POST", "webhooks/flush")
    finally:
        receiver.shutdown()
        receiver.server_close()

    public_key = requests.get(f"{sandbox.url}/_sandbox/webhook-public-key", timeout=10).text
    events = []
    for token in received:
        claims = jwt.decode(token, public_key, algorithms=["RS256"])
        assert claims["exp"] == claims["iat"] + 300
        outer = json.loads(claims["data"])
        assert outer["instanceId"] == "test-instance-id"  # the app instance, not the site
        assert json.loads(outer["identity"]) == {"identityType": "APP", "appId": "sandbox"}
        events.append((outer["eventType"], json.loads(outer["data"])))
    assert flushed["delivered"] >= 6
    assert [name for name, _ in events] == [
        "wix.contacts.v4.label_created",
        "wix.contacts.v4.label_updated",
        "wix.contacts.v4.contact_created",
        "wix.contacts.v4.label_deleted",
        "wix.contacts.v4.contact_updated",
        "wix.contacts.v4.contact_deleted",
    ]
    created = events[0][1]
    assert created["entityFqdn"] == "wix.contacts.v4.label"
    assert created["slug"] == "created"
    assert created["entityId"] == key
    # Entities as objects, as Wix documents them.
    assert created["createdEvent"]["entity"]["displayName"] == "Hooked"
    renamed = events[1][1]["updatedEvent"]["currentEntity"]
    assert renamed["displayName"] == "Hooked 2"
    unlabeled = events[4][1]["updatedEvent"]["currentEntity"]
    assert unlabeled["info"]["labelKeys"]["items"] == []
    assert events[5][1]["deletedEvent"] == {}
    assert len({envelope["id"] for _, envelope in events}) == 6


def test_help_describes_the_options():
    result = subprocess.run(
        [sys.executable, "-m", "wixsandbox", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    for option in ("--contacts", "--faults", "--state", "--webhook-url", "/_sandbox/reset"):
        assert option in result.stdout


def test_starts_with_seeded_data():
    with SandboxProcess(contacts=1000, labels=30, seed=7) as sandbox:
        health = sandbox.control("GET", "health")
        output = "".join(sandbox.output)

    assert output.startswith(f"wixsandbox listening on {sandbox.url}")
    assert health == {"ok": True, "contacts": 1000, "labels": 32}
