import pytest

from labelsite.wix import WixClient
from tests.sandbox import SandboxProcess


@pytest.fixture
def make_client(sandbox):
    """Build clients against the sandbox: no pacing, tiny backoff, sleeps recorded not slept."""
    clients = []

    def make(**overrides):
        sleeps: list[float] = []
        options = {
            "base_url": sandbox.url,
            "api_key": sandbox.api_key,
            "site_id": sandbox.site_id,
            "max_requests_per_minute": 0,
            "connect_timeout": 2.0,
            "read_timeout": 10.0,
            "backoff_base": 0.01,
            "backoff_cap": 0.05,
            "sleep": sleeps.append,
            **overrides,
        }
        client = WixClient(**options)
        client.sleeps = sleeps
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def wix(make_client):
    return make_client()


@pytest.fixture(scope="module")
def quota_sandbox():
    """A second sandbox whose site allows only 3 user labels (the shared one allows 10,000)."""
    with SandboxProcess(extra_args=("--label-quota", "3")) as server:
        yield server
