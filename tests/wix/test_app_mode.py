"""labelsite as a Wix app: access tokens by OAuth client credentials ("Create Access Token"),
made once, renewed before they expire and once when Wix stops taking one; the app secret and
the tokens never show in errors or reprs."""

import pytest

from labelsite.wix import WixAuthError, WixClient
from tests.sandbox import SandboxProcess

APP = {"app_id": "sandbox-app-id", "app_secret": "top-secret-value"}


@pytest.fixture(scope="module")
def app_sandbox():
    with SandboxProcess(
        labels=3, extra_args=["--app-secret", APP["app_secret"], "--token-lifetime", "400"]
    ) as sandbox:
        yield sandbox


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def app_client(sandbox, clock=None, **overrides) -> WixClient:
    return WixClient(
        base_url=sandbox.url,
        app_instance_id=sandbox.instance_id,
        max_requests_per_minute=0,
        **{**APP, **overrides},
        **({"clock": clock} if clock else {}),
    )


def token_requests(sandbox) -> int:
    return sandbox.stats()["byRoute"].get("POST /oauth2/token", 0)


def test_a_token_is_made_once_and_used_for_every_call(app_sandbox):
    app_sandbox.reset_stats()
    with app_client(app_sandbox) as client:
        labels = client.query_labels(limit=50).labels
        client.query_labels(limit=1)
    assert {label.key for label in labels} >= {"contacts.customers"}
    assert token_requests(app_sandbox) == 1
    assert app_sandbox.stats()["byStatus"] == {"200": 3}


def test_a_token_is_renewed_before_it_expires(app_sandbox):
    clock = Clock()
    app_sandbox.reset_stats()
    with app_client(app_sandbox, clock=clock) as client:
        client.query_labels(limit=1)
        clock.now = 60  # 340 s left of 400: still good
        client.query_labels(limit=1)
        assert token_requests(app_sandbox) == 1
        clock.now = 120  # 280 s left: under the 300 s margin, renewed
        client.query_labels(limit=1)
    assert token_requests(app_sandbox) == 2


def test_a_token_wix_no_longer_takes_is_renewed_once(app_sandbox):
    app_sandbox.reset_stats()
    with app_client(app_sandbox) as client:
        client.query_labels(limit=1)
        app_sandbox.control("POST", "tokens/revoke")
        client.query_labels(limit=1)  # 401, a fresh token, and the same call again
    assert token_requests(app_sandbox) == 2
    assert app_sandbox.stats()["byStatus"] == {"200": 4, "401": 1}


def test_wrong_app_credentials_are_an_auth_error_that_never_shows_the_secret(app_sandbox):
    with app_client(app_sandbox, app_secret="not-the-secret") as client:
        with pytest.raises(WixAuthError) as error:
            client.query_labels(limit=1)
        assert "not-the-secret" not in str(error.value) + repr(error.value) + repr(client)
        assert "not-the-secret" not in repr(client.config)
