"""Benchmark wixsandbox at 100k contacts: start-up time and 1000-contact FULL query pages.

Run: .venv/bin/python bench/sandbox.py   (prints JSON)
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

# Run as a script from anywhere: the repository root must be importable for tests.sandbox.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.sandbox import SandboxProcess

CONTACTS = 100_000
LABELS = 300
PAGES = 50
WARM_UP = 5
QUERY = "/contacts/v4/contacts/query"


def timed_pages(sandbox: SandboxProcess, bodies: list[dict]) -> dict:
    """First pass: pages whose contacts were never serialized; second pass: cached bytes."""
    for body in bodies[:WARM_UP]:
        sandbox.api("POST", QUERY, json=body).raise_for_status()
    return {"first_pass": one_pass(sandbox, bodies), "second_pass": one_pass(sandbox, bodies)}


def one_pass(sandbox: SandboxProcess, bodies: list[dict]) -> dict:
    millis, sizes = [], []
    for body in bodies:
        started = time.perf_counter()
        response = sandbox.api("POST", QUERY, json=body)
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        millis.append(elapsed)
        sizes.append(len(response.content))
    millis.sort()
    return {
        "pages": len(millis),
        "median_ms": round(statistics.median(millis), 1),
        "p95_ms": round(millis[int(len(millis) * 0.95) - 1], 1),
        "max_ms": round(millis[-1], 1),
        "response_bytes_median": int(statistics.median(sizes)),
    }


def main() -> None:
    started = time.perf_counter()
    sandbox = SandboxProcess(contacts=CONTACTS, labels=LABELS, seed=1, rate_limit=0)
    sandbox.start()
    startup = time.perf_counter() - started
    try:
        dump = sandbox.dump()
        created = [contact["createdDate"] for contact in dump["contacts"]]
        step = CONTACTS // PAGES
        top_label = max(
            (label for label in dump["labels"]),
            key=lambda label: sum(label["key"] in c["labelKeys"] for c in dump["contacts"][:2000]),
        )["key"]

        def page(**query):
            return {"query": {"paging": {"limit": 1000, **query.pop("paging", {})}, **query}}

        offsets = [page(paging={"offset": i * step}) for i in range(PAGES)]
        keyset = [page(filter={"createdDate": {"$gt": created[i * step]}}) for i in range(PAGES)]
        by_label = [
            page(filter={"info.labelKeys": {"$hasSome": [top_label]}}, paging={"offset": i * 500})
            for i in range(PAGES)
        ]
        report = {
            "contacts": CONTACTS,
            "labels": LABELS,
            "startup_seconds": round(startup, 2),
            "offset_pages": timed_pages(sandbox, offsets),
            "created_date_keyset_pages": timed_pages(sandbox, keyset),
            "has_some_label_pages": {"label": top_label, **timed_pages(sandbox, by_label)},
        }
    finally:
        sandbox.stop()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
