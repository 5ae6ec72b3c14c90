"""Run wixsandbox as a subprocess and drive it, for tests and benchmarks."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 30
REQUEST_TIMEOUT = 30
LISTENING = "wixsandbox listening on "


class SandboxProcess:
    def __init__(
        self,
        *,
        contacts: int = 0,
        labels: int = 0,
        seed: int = 1,
        rate_limit: int = 0,
        faults: str = "",
        fault_seed: int | None = None,
        api_key: str = "test-api-key",
        site_id: str = "test-site-id",
        instance_id: str = "test-instance-id",
        state_file: str | os.PathLike | None = None,
        extra_args: tuple | list = (),
    ):
        self.api_key = api_key
        self.site_id = site_id
        self.instance_id = instance_id
        self.url = ""
        self.bulk_pace = 0  # as the sandbox started, read once it listens
        self.args = [
            "--port", "0", "--quiet",
            "--contacts", str(contacts), "--labels", str(labels), "--seed", str(seed),
            "--rate-limit", str(rate_limit),
            "--api-key", api_key, "--site-id", site_id, "--instance-id", instance_id,
        ]  # fmt: skip
        if faults:
            self.args += ["--faults", faults]
        if fault_seed is not None:
            self.args += ["--fault-seed", str(fault_seed)]
        if state_file is not None:
            self.args += ["--state", str(state_file)]
        self.args += [str(arg) for arg in extra_args]
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []
        self.session = requests.Session()
        # Lives as long as the process, so it can be shown when start-up fails; closed in stop().
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115

    def start(self) -> SandboxProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wixsandbox", *self.args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        # A reader thread keeps draining stdout so the sandbox never blocks on a full pipe.
        threading.Thread(
            target=self._read_stdout, args=(self.process.stdout, lines), daemon=True
        ).start()
        try:
            while True:
                line = lines.get(timeout=STARTUP_TIMEOUT)
                if line is None:
                    raise RuntimeError(f"wixsandbox exited early:\n{self.stderr()}")
                if line.startswith(LISTENING):
                    self.url = line[len(LISTENING) :].strip()
                    self.bulk_pace = self.control("GET", "bulk-jobs/pace")["itemsPerSecond"]
                    return self
        except queue.Empty:
            errors = self.stderr()
            self.stop()
            raise RuntimeError(f"wixsandbox did not start:\n{errors}") from None

    def _read_stdout(self, stdout, lines: queue.Queue) -> None:
        for line in stdout:
            self.output.append(line)
            lines.put(line)
        lines.put(None)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.session.close()
        self._stderr.close()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # -- control API ----------------------------------------------------------------------

    def control(self, method: str, path: str, json=None) -> dict:
        response = self.session.request(
            method, f"{self.url}/_sandbox/{path.lstrip('/')}", json=json, timeout=REQUEST_TIMEOUT
        )
        response.raise_for_status()
        return response.json()

    def restore(self) -> SandboxProcess:
        """Back to how it started, empty, with zeroed stats."""
        self.reset(contacts=0, labels=0)
        self.neutral()
        self.reset_stats()
        return self

    def neutral(self) -> None:
        """Its behaviour as it started, whatever it holds: what one test set (faults, a rate
        limit, a webhook URL, a slower bulk job pace) never reaches the next test."""
        self.set_faults("")
        self.set_rate_limit(0)
        self.control("POST", "webhooks/url", {"url": None})
        self.control("POST", "bulk-jobs/pace", {"itemsPerSecond": self.bulk_pace})

    def reset(self, *, contacts: int = 0, labels: int = 0, seed: int = 1) -> None:
        self.control("POST", "reset", {"contacts": contacts, "labels": labels, "seed": seed})

    def set_faults(self, spec: str, seed: int | None = None) -> None:
        self.control("POST", "faults", {"spec": spec, "seed": seed})

    def set_rate_limit(self, per_minute: int) -> None:
        self.control("POST", "rate-limit", {"perMinute": per_minute})

    def stats(self) -> dict:
        return self.control("GET", "stats")

    def reset_stats(self) -> None:
        self.control("POST", "stats/reset")

    def dump(self) -> dict:
        return self.control("GET", "dump")

    # -- Wix API ---------------------------------------------------------------------------

    def api(self, method: str, path: str, json=None, params=None) -> requests.Response:
        """A raw authenticated call to a Wix path, e.g. api("GET", "/contacts/v4/labels")."""
        return self.session.request(
            method,
            f"{self.url}/{path.lstrip('/')}",
            json=json,
            params=params,
            headers={"Authorization": self.api_key, "wix-site-id": self.site_id},
            timeout=REQUEST_TIMEOUT,
        )
