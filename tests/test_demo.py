"""The demo (`make run`, scripts/run_demo.py): the site stays up when the sandbox stops, the
sandbox comes back, the login stands out, Ctrl-C stops everything."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

from tests.fixtures.waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("run_demo", ROOT / "scripts" / "run_demo.py")
run_demo = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(run_demo)


class FakeProcess:
    def __init__(self, name: str) -> None:
        self.name = name
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode

    def stop(self, code: int) -> None:
        self.returncode = code


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def demo():
    """A supervisor over fake processes, with a clock the test moves and what it said."""
    clock, said, started = Clock(), [], []
    sandbox, web, worker = FakeProcess("sandbox"), FakeProcess("web"), FakeProcess("worker")

    def restart():
        process = FakeProcess(f"sandbox {len(started) + 2}")
        started.append(process)
        return process

    supervisor = run_demo.Supervisor(
        sandbox=sandbox,
        site={"web server": web, "background worker": worker},
        restart_sandbox=restart,
        restart_after=5,
        clock=clock,
        tell=said.append,
    )
    return supervisor, clock, said, started, (sandbox, web, worker)


def test_when_the_sandbox_stops_the_site_goes_on_and_the_sandbox_comes_back(demo):
    supervisor, clock, said, started, (sandbox, web, worker) = demo
    assert supervisor.step() is None
    assert said == []

    sandbox.stop(-9)
    assert supervisor.step() is None
    assert len(said) == 1
    assert "The Wix sandbox stopped (exit code -9). labelsite keeps running" in said[0]
    assert "Starting the sandbox again in 5 seconds" in said[0]
    assert started == []

    clock.now += 4
    assert supervisor.step() is None
    assert started == []  # not yet
    assert len(said) == 1  # said once, not at every look

    clock.now += 1
    assert supervisor.step() is None
    assert len(started) == 1
    assert supervisor.sandbox is started[0]
    assert said[-1].startswith("The Wix sandbox is running again")
    assert web.poll() is None
    assert worker.poll() is None
    assert supervisor.processes() == [started[0], web, worker]


def test_a_sandbox_that_does_not_start_again_is_tried_later(demo):
    supervisor, clock, said, _, (sandbox, _, _) = demo
    attempts = []

    def busy_port():
        attempts.append(clock.now)
        if len(attempts) == 1:
            raise run_demo.SandboxDidNotStart("The Wix sandbox did not start (exit code 1).")
        return FakeProcess("sandbox again")

    supervisor.restart_sandbox = busy_port
    sandbox.stop(1)
    supervisor.step()
    clock.now += 5
    assert supervisor.step() is None
    assert said[-1] == "The Wix sandbox did not start (exit code 1). Trying again in 5 seconds."
    clock.now += 5
    assert supervisor.step() is None
    assert attempts == [105.0, 110.0]
    assert supervisor.sandbox.name == "sandbox again"


@pytest.mark.parametrize("which", ["web server", "background worker"])
def test_when_the_site_stops_the_demo_ends(demo, which):
    supervisor, _, said, _, _ = demo
    supervisor.site[which].stop(3)
    assert supervisor.step() == 1
    assert said == [f"The {which} stopped (exit code 3); stopping the rest."]


def test_the_login_box_stands_out():
    box = run_demo.login_box("http://127.0.0.1:8000/admin/", "admin", "s3cret-pw")
    lines = box.strip("\n").splitlines()
    assert lines[0] == lines[-1]
    assert re.fullmatch(r"\+-+\+", lines[0])
    assert all(len(line) == len(lines[0]) for line in lines)
    assert all(line.startswith("|") and line.endswith("|") for line in lines[1:-1])
    text = "\n".join(lines)
    assert "address   http://127.0.0.1:8000/admin/" in text
    assert "user      admin" in text
    assert "password  s3cret-pw   (shown only now: note it down)" in text
    assert "Ctrl-C stops everything." in text

    again = run_demo.login_box("http://127.0.0.1:8000/admin/", "admin", None)
    assert "the one shown when it was made" in again
    assert "changepassword admin" in again


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def sandbox_pids(port: int) -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"wixsandbox" in args and str(port).encode() in args:
            pids.append(int(cmdline.parent.name))
    return pids


class Output:
    """The demo's output, read on a thread, waited on by pattern."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.text = ""
        self.lock = threading.Lock()
        threading.Thread(target=self._read, args=(process,), daemon=True).start()

    def _read(self, process) -> None:
        for line in process.stdout:
            with self.lock:
                self.text += line

    def said(self, pattern: str) -> re.Match | None:
        with self.lock:
            return re.search(pattern, self.text)

    def wait_for(self, pattern: str, seconds: float) -> re.Match:
        try:
            return wait_until(lambda: self.said(pattern), timeout=seconds, what=repr(pattern))
        except AssertionError:
            raise AssertionError(
                f"the demo did not say {pattern!r}; it said:\n{self.text[-3000:]}"
            ) from None


@pytest.mark.slow
def test_the_demo_keeps_the_site_up_while_the_sandbox_is_down(tmp_path):
    """The real demo, in a folder of its own (its own SQLite file and sandbox state)."""
    port, sandbox_port = free_port(), free_port()
    env = {
        **os.environ,
        "LABELSITE_PORT": str(port),
        "SANDBOX_PORT": str(sandbox_port),
        "SANDBOX_RESTART_SECONDS": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "SYNC_INTERVAL_SECONDS": "0",
    }
    demo = subprocess.Popen(
        [sys.executable, "scripts/run_demo.py", "--var", str(tmp_path / "var"), "--no-dotenv"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    output = Output(demo)
    try:
        box = output.wait_for(r"\+-+\+\n(\|.*\|\n)+\+-+\+", seconds=90).group(0)
        assert f"http://127.0.0.1:{port}/admin/" in box
        assert "user      admin" in box
        password = re.search(r"password  (\S+)", box).group(1)
        assert len(password) >= 12

        (pid,) = sandbox_pids(sandbox_port)
        os.kill(pid, signal.SIGKILL)
        output.wait_for(r"The Wix sandbox stopped .* labelsite keeps running", seconds=10)
        login = f"http://127.0.0.1:{port}/admin/login/"
        with urllib.request.urlopen(login, timeout=10) as answer:
            assert answer.status == 200
        output.wait_for(r"The Wix sandbox is running again", seconds=20)
        assert port_open(sandbox_port)
        assert sandbox_pids(sandbox_port) != [pid]
        assert demo.poll() is None

        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C
        assert demo.wait(timeout=30) == 0
        assert not port_open(port)
        assert not port_open(sandbox_port)
        assert sandbox_pids(sandbox_port) == []
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()


def test_the_demo_uses_its_own_database_whatever_a_dotenv_says(monkeypatch, tmp_path):
    # A `.env` is read by the settings without overwriting the environment: the demo names its
    # database in the environment, so a real site's DATABASE_URL in `.env` is never used by it.
    monkeypatch.delenv("DATABASE_URL", raising=False)
    env = run_demo.demo_environment(tmp_path)
    assert env["DATABASE_URL"] == f"sqlite:///{ROOT / 'db.sqlite3'}"
    assert env["WIX_API_BASE_URL"].startswith("http://127.0.0.1:")
    # One given on the command line is the person's choice.
    monkeypatch.setenv("DATABASE_URL", "postgres://demo:demo@127.0.0.1:5432/demo")
    assert run_demo.demo_environment(tmp_path)["DATABASE_URL"].startswith("postgres://demo")
