"""Start labelsite's embedded demo: the Wix sandbox with demo data, the web server and the worker.

`make run` calls this. It keeps every process in the foreground group, prints where to log in,
and stops everything on Ctrl-C or when any part dies. Data lives in `var/` and `db.sqlite3`, so a
restart keeps the sandbox's contacts and the admin user.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PYTHON = sys.executable
HOST = os.environ.get("LABELSITE_HOST", "127.0.0.1")
PORT = int(os.environ.get("LABELSITE_PORT", "8000"))
SANDBOX_PORT = int(os.environ.get("SANDBOX_PORT", "8765"))
SANDBOX_KEY = "sandbox-api-key"
SANDBOX_SITE = "sandbox-site-id"
SANDBOX_INSTANCE = "sandbox-instance-id"  # what the sandbox's webhooks carry as instanceId


def demo_environment() -> dict[str, str]:
    """The settings the demo's processes share; explicit values win over a `.env` file."""
    return {
        **os.environ,
        "DEBUG": os.environ.get("DEBUG", "true"),
        "WIX_API_BASE_URL": f"http://127.0.0.1:{SANDBOX_PORT}",
        "WIX_API_KEY": SANDBOX_KEY,
        "WIX_SITE_ID": SANDBOX_SITE,
        "WIX_APP_INSTANCE_ID": SANDBOX_INSTANCE,
        "WIX_WEBHOOK_PUBLIC_KEY_FILE": str(VAR / "webhook-public.pem"),
        "PYTHONUNBUFFERED": "1",
    }


def say(message: str) -> None:
    print(f"[labelsite] {message}", flush=True)


def start_sandbox(env: dict[str, str]) -> subprocess.Popen[str]:
    command = [
        PYTHON, "-m", "wixsandbox",
        "--host", "127.0.0.1", "--port", str(SANDBOX_PORT),
        "--api-key", SANDBOX_KEY, "--site-id", SANDBOX_SITE, "--instance-id", SANDBOX_INSTANCE,
        "--state", str(VAR / "sandbox-state.json"),
        "--contacts", "2000", "--labels", "40", "--seed", "42",
        "--webhook-url", f"http://{HOST}:{PORT}/wix/webhooks/",
        "--webhook-private-key", str(VAR / "webhook-private.pem"),
        "--webhook-public-key-out", str(VAR / "webhook-public.pem"),
        "--quiet",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("wixsandbox listening on"):
            say(f"Wix sandbox (demo data) {line.removeprefix('wixsandbox ').strip()}")
            return process
    raise SystemExit(
        f"The Wix sandbox did not start (exit code {process.wait()}). "
        f"Is port {SANDBOX_PORT} already in use? Set SANDBOX_PORT to use another one."
    )


def manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"'manage.py {' '.join(args)}' failed (exit code {result.returncode}).")


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
        f"WIX_WEBHOOK_PUBLIC_KEY_FILE={VAR / 'webhook-public.pem'}\n"
    )


def main() -> int:
    VAR.mkdir(exist_ok=True)
    write_dotenv_once()
    env = demo_environment()
    children: list[subprocess.Popen] = []

    def stop_all(*_: object) -> None:
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        children.append(start_sandbox(env))
        manage(env, "migrate", "--no-input", "-v", "0")
        manage(env, "setup_roles", "-v", "0")
        manage(env, "ensure_admin", "--url", f"http://{HOST}:{PORT}/admin/")
        manage(env, "sync_wix", "--full")
        manage(env, "schedule_syncs")
        children.append(
            subprocess.Popen(
                [PYTHON, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"],
                cwd=ROOT,
                env=env,
            )
        )
        children.append(
            subprocess.Popen(
                [PYTHON, "manage.py", "db_worker", "--no-reload", "--interval", "0.5"],
                cwd=ROOT,
                env=env,
            )
        )
        say(f"labelsite is running: open http://{HOST}:{PORT}/admin/ (Ctrl-C stops everything)")
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = next(child for child in children if child.poll() is not None)
        say(f"'{' '.join(map(str, failed.args[1:3]))}' stopped; stopping the rest.")
        return 1
    except KeyboardInterrupt:
        say("Stopping.")
        return 0
    finally:
        stop_all()


if __name__ == "__main__":
    sys.exit(main())
