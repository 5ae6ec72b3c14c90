import pytest

from tests.fixtures.database import use_file_for_sqlite_test_database
from tests.sandbox import SandboxProcess


def pytest_collection_modifyitems(items):
    """Tests that mostly wait (on a rate limit, for minutes) go first, so that one worker waits
    while the other gets on with the rest instead of both waiting at the end."""
    items.sort(key=lambda item: item.get_closest_marker("waits") is None)


@pytest.fixture(scope="session")
def sandbox_server():
    # Session-scoped, so each pytest-xdist worker starts its own sandbox on its own port.
    with SandboxProcess(contacts=0, labels=0, rate_limit=0) as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server):
    return sandbox_server.restore()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    # A file, not memory: processes a test starts (worker, killed sync) share the database.
    use_file_for_sqlite_test_database(tmp_path_factory)
