"""Several processes calling Wix for one site at once, all counting against the site's shared
budget (`wixcache.budget`): a person clicking, two workers polling bulk jobs, a sync.

    .venv/bin/python bench/shared_budget.py --seconds 90          # prints JSON

Starts the sandbox with Wix's real limit (200 requests in any 60 s), a scratch database, and
four processes, each running one role for `--seconds`; then prints how many requests Wix saw,
how many it refused (429), the most it saw in any 60 s window, and how long a person's clicks
waited. `tests/sync/test_shared_budget.py` runs the same four processes. A process started with
`--role` runs one role against the database and Wix named by the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ROLES = ("web", "worker", "worker", "sync")
CLICK_EVERY_SECONDS = 1.5  # a busy person: 40 clicks a minute, WIX_INTERACTIVE_RESERVE


def run_role(role: str, seconds: float) -> dict:
    """One process's work until the deadline; returns what it did (as JSON on stdout)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelsite.settings")
    import django

    django.setup()
    from sync.models import SyncRun
    from sync.service import SyncAlreadyRunning, SyncFailed, sync_wix
    from wixcache.budget import site_client

    deadline = time.monotonic() + seconds
    done, waits = 0, []
    with site_client(interactive=role == "web") as client:
        while time.monotonic() < deadline:
            if role == "sync":
                try:
                    run = sync_wix(kind=SyncRun.Kind.FULL, client=client)
                    done += run.requests
                except (SyncAlreadyRunning, SyncFailed):
                    time.sleep(1)
                continue
            started = time.monotonic()
            if role == "web":  # a person's click: a label looked up
                client.query_labels(limit=10)
                waits.append(time.monotonic() - started)
                time.sleep(CLICK_EVERY_SECONDS)
            else:  # a worker following a bulk job
                client.query_contacts(limit=1)
            done += 1
    return {"role": role, "requests": done, "waits": waits}


def run_processes(env: dict[str, str], seconds: float) -> list[dict]:
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--role", role, "--seconds", str(seconds)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for role in ROLES
    ]
    results = []
    for process in processes:
        out, _ = process.communicate(timeout=seconds + 120)
        if process.returncode:
            raise RuntimeError(f"a {ROLES[processes.index(process)]} process failed")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def summary(results: list[dict], stats: dict, seconds: float, budget: int) -> dict:
    waits = [w for result in results for w in result["waits"]]
    return {
        "processes": len(results),
        "seconds": seconds,
        "budget_per_minute": budget,
        "wix_requests": stats["requests"],
        "wix_429": stats["byStatus"].get("429", 0),
        "busiest_minute": stats["busiestMinute"],
        "requests_by_role": {r["role"]: r["requests"] for r in results if r["role"] != "worker"}
        | {"workers": sum(r["requests"] for r in results if r["role"] == "worker")},
        "click_wait_median_s": round(statistics.median(waits), 3) if waits else None,
        "click_wait_max_s": round(max(waits), 3) if waits else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=90)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--role", choices=sorted(set(ROLES)))
    options = parser.parse_args()
    if options.role:
        print(json.dumps(run_role(options.role, options.seconds)))
        return

    from bench.sync import scratch_database  # a fresh database (`_bench_sync`), dropped after
    from tests.sandbox import SandboxProcess

    url, drop = scratch_database(os.environ.get("DATABASE_URL") or None)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
        "WIX_MAX_REQUESTS_PER_MINUTE": str(options.budget),
        "SYNC_INTERVAL_SECONDS": "0",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    with SandboxProcess(contacts=5000, labels=30, rate_limit=options.budget) as sandbox:
        env |= {
            "WIX_API_BASE_URL": sandbox.url,
            "WIX_API_KEY": sandbox.api_key,
            "WIX_SITE_ID": sandbox.site_id,
        }
        try:
            results = run_processes(env, options.seconds)
            stats = sandbox.stats()
        finally:
            drop()
    print(json.dumps(summary(results, stats, options.seconds, options.budget), indent=2))


if __name__ == "__main__":
    main()
