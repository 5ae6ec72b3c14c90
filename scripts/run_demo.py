"""Start labelsite's embedded demo: the Wix sandbox with demo data, the web server and the worker.

`make run` calls this. It keeps every process in the foreground group and ends the start-up
with the login in a box. Ctrl-C stops everything. When the sandbox stops (someone trying out
"Wix is down"), the site keeps running and the sandbox is started again after a few seconds
from its saved state; when the web server or the worker stops, the rest stops too. Data lives
in `var/` and `db.sqlite3`, so a restart keeps the sandbox's contacts and the admin user.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOST = os.environ.get("LABELSITE_HOST", "127.0.0.1")
PORT = int(os.environ.get("LABELSITE_PORT", "8000"))
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "8765"))
SANDBOX_KEY = "sandbox-api-key"
SANDBOX_SITE = "sandbox-site-id"
SANDBOX_INSTANCE = "sandbox-instance-id"  # what the sandbox's webhooks carry as instanceId
# How long the site runs without its Wix before the sandbox is started again.
SANDBOX_RESTART_SECONDS = float(os.environ.get("SANDBOX_RESTART_SECONDS", "5"))


def demo_environment(var: Path) -> dict[str, str]:
    """The settings the demo's processes share; explicit values win over a `.env` file."""
    return {
        **os.environ,
        # The demo's own SQLite file, whatever a `.env` says: the sandbox's demo data must never
        # be synced into a real site's database. Only a DATABASE_URL given on the command line
        # (`DATABASE_URL=postgres://… make run`) chooses another one.
        "DATABASE_URL": os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'db.sqlite3'}"),
        "DEBUG": os.environ.get("DEBUG", "true"),
        "WIX_API_BASE_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
        "WIX_API_KEY": SANDBOX_KEY,
        "WIX_SITE_ID": SANDBOX_SITE,
        "WIX_APP_INSTANCE_ID": SANDBOX_INSTANCE,
        "WIX_WEBHOOK_PUBLIC_KEY_FILE": str(var / "webhook-public.pem"),
        "PYTHONUNBUFFERED": "1",
    }


def say(message: str) -> None:
    print(f"[labelsite] {message}", flush=True)


class SandboxDidNotStart(Exception):
    pass


def sandbox_command(var: Path) -> list[str]:
    return [
        PYTHON, "-m", "wixsandbox",
        "--host", "127.0.0.1", "--port", str(SANDBOX_PORT),
        "--api-key", SANDBOX_KEY, "--site-id", SANDBOX_SITE, "--instance-id", SANDBOX_INSTANCE,
        "--state", str(var / "sandbox-state.json"),
        "--contacts", "2000", "--labels", "40", "--seed", "42",
        "--webhook-url", f"http://{HOST}:{PORT}/wix/webhooks/",
        "--webhook-private-key", str(var / "webhook-private.pem"),
        "--webhook-public-key-out", str(var / "webhook-public.pem"),
        "--quiet",
    ]  # fmt: skip


def start_sandbox(
    var: Path, env: dict[str, str], spawned: Callable[[subprocess.Popen], None]
) -> subprocess.Popen[str]:
    """Start the sandbox and wait until it listens. `spawned` learns of the process at once,
    so that Ctrl-C during the wait stops it too."""
    process = subprocess.Popen(
        sandbox_command(var), cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    spawned(process)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("wixsandbox listening on"):
            # Keep reading what it prints, so that a full pipe never blocks it.
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process
    raise SandboxDidNotStart(
        f"The Wix sandbox did not start (exit code {process.wait()}). "
        f"Is port {SANDBOX_PORT} already in use? Set SANDBOX_PORT to use another one."
    )


class Supervisor:
    """Watches the demo's processes. The sandbox may stop: the site goes on, and the sandbox is
    started again after `restart_after` seconds (and again, later, if that fails). The web
    server and the worker may not: when one stops, `step` answers the exit code to end with."""

    def __init__(
        self,
        *,
        sandbox: subprocess.Popen,
        site: dict[str, subprocess.Popen],
        restart_sandbox: Callable[[], subprocess.Popen],
        restart_after: float = SANDBOX_RESTART_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        tell: Callable[[str], None] = say,
    ) -> None:
        self.sandbox = sandbox
        self.site = site
        self.restart_sandbox = restart_sandbox
        self.restart_after = restart_after
        self.clock = clock
        self.tell = tell
        self.restart_at: float | None = None

    def step(self) -> int | None:
        for name, process in self.site.items():
            if process.poll() is not None:
                code = process.returncode
                self.tell(f"The {name} stopped (exit code {code}); stopping the rest.")
                return 1
        if self.restart_at is None and self.sandbox.poll() is not None:
            self.tell(
                f"The Wix sandbox stopped (exit code {self.sandbox.returncode}). labelsite keeps "
                "running: pages open as usual, and whatever needs Wix (creating a label, a sync) "
                f"says that Wix is not answering. Starting the sandbox again in "
                f"{self.restart_after:g} seconds, with the contacts and labels it had."
            )
            self.restart_at = self.clock() + self.restart_after
        if self.restart_at is not None and self.clock() >= self.restart_at:
            try:
                self.sandbox = self.restart_sandbox()
            except SandboxDidNotStart as error:
                self.tell(f"{error} Trying again in {self.restart_after:g} seconds.")
                self.restart_at = self.clock() + self.restart_after
            else:
                self.restart_at = None
                self.tell(f"The Wix sandbox is running again on port {SANDBOX_PORT}.")
        return None

    def processes(self) -> list[subprocess.Popen]:
        return [self.sandbox, *self.site.values()]


def login_box(url: str, username: str, password: str | None) -> str:
    """The login, framed so that it stands out from the servers' logs."""
    if password is None:
        password = (
            f"the one shown when it was made (forgot it? manage.py changepassword {username})"
        )
    else:
        password = f"{password}   (shown only now: note it down)"
    lines = [
        "labelsite is running. Log in:",
        "",
        f"  address   {url}",
        f"  user      {username}",
        f"  password  {password}",
        "",
        "Ctrl-C stops everything.",
    ]
    width = max(len(line) for line in lines)
    rule = "+" + "-" * (width + 4) + "+"
    framed = [rule, *(f"|  {line.ljust(width)}  |" for line in lines), rule]
    return "\n" + "\n".join(framed) + "\n"


def manage(env: dict[str, str], *args: str, capture: bool = False) -> str:
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=False,
        stdout=subprocess.PIPE if capture else None,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"'manage.py {' '.join(args)}' failed (exit code {result.returncode}).")
    return result.stdout or ""


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)


def write_dotenv_once() -> None:
    """Give `manage.py` run by hand the same demo settings, without overwriting a real `.env`."""
    dotenv = ROOT / ".env"
    if dotenv.exists():
        return
    dotenv.write_text(
        "# Written by `make run` for the embedded demo. See README.md for every setting.\n"
        "DEBUG=true\n"
        f"SECRET_KEY={secrets.token_urlsafe(40)}\n"
        f"WIX_API_BASE_URL=http://127.0.0.1:{SANDBOX_PORT}\n"
        f"WIX_API_KEY={SANDBOX_KEY}\n"
        f"WIX_SITE_ID={SANDBOX_SITE}\n"
        f"WIX_APP_INSTANCE_ID={SANDBOX_INSTANCE}\n"
        f"WIX_WEBHOOK_PUBLIC_KEY_FILE={ROOT / 'var' / 'webhook-public.pem'}\n"
    )


def stop_all(children: list[subprocess.Popen]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="the demo's data folder")
    parser.add_argument(
        "--no-dotenv", action="store_true", help="do not write a .env beside manage.py"
    )
    args = parser.parse_args(argv)
    var: Path = args.var
    var.mkdir(parents=True, exist_ok=True)
    if not args.no_dotenv:
        write_dotenv_once()
    env = demo_environment(var)
    url = f"http://{HOST}:{PORT}/admin/"
    children: list[subprocess.Popen] = []

    def sandbox() -> subprocess.Popen:
        return start_sandbox(var, env, children.append)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Ctrl-C stops everything, even when a shell started us with SIGINT ignored (`&`).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        first = sandbox()
        say(f"Wix sandbox (demo data) listening on http://127.0.0.1:{SANDBOX_PORT}")
        manage(env, "migrate", "--no-input", "-v", "0")
        manage(env, "setup_roles", "-v", "0")
        login = json.loads(manage(env, "ensure_admin", "--url", url, "--json", capture=True))
        manage(env, "sync_wix", "--full")
        manage(env, "schedule_syncs")
        site = {
            "web server": subprocess.Popen(
                [PYTHON, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"],
                cwd=ROOT,
                env=env,
            ),
            "background worker": subprocess.Popen(
                [PYTHON, "manage.py", "db_worker", "--no-reload", "--interval", "0.5"],
                cwd=ROOT,
                env=env,
            ),
        }
        children += site.values()
        wait_for_port(PORT, site["web server"])
        print(login_box(login["url"], login["username"], login["password"]), flush=True)
        supervisor = Supervisor(sandbox=first, site=site, restart_sandbox=sandbox)
        while (code := supervisor.step()) is None:
            time.sleep(0.5)
        return code
    except SandboxDidNotStart as error:
        say(str(error))
        return 1
    except KeyboardInterrupt:
        say("Stopping.")
        return 0
    finally:
        stop_all(children)


if __name__ == "__main__":
    sys.exit(main())
