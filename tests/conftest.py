import pytest

from tests.fixtures.database import use_file_for_sqlite_test_database
from tests.sandbox import SandboxProcess


@pytest.fixture(scope="session")
def sandbox_server():
    # Session-scoped, so each pytest-xdist worker starts its own sandbox on its own port.
    with SandboxProcess(contacts=0, labels=0, rate_limit=0) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server):
    sandbox_server.reset(contacts=0, labels=0)
    sandbox_server.set_faults("")
    sandbox_server.set_rate_limit(0)
    sandbox_server.control("POST", "webhooks/url", {"url": None})
    sandbox_server.reset_stats()
    return sandbox_server


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    # A file, not memory: processes a test starts (worker, killed sync) share the database.
    use_file_for_sqlite_test_database(tmp_path_factory)
