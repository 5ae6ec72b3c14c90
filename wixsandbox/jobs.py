"""Bulk add/remove-labels jobs, run in a background thread in paced chunks.

Pacing (items per second) exists so tests and people can watch a job's counters move.
"""

from __future__ import annotations

import threading
import time
import uuid

from .clock import iso, now_ms
from .errors import invalid, not_found
from .store import Store

CHUNKS_PER_SECOND = 20
UNPACED_CHUNK = 1000


class BulkJobs:
    def __init__(self, store: Store, items_per_second: int):
        self.store = store
        self.items_per_second = items_per_second
        self._jobs: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._cancel = threading.Event()

    def clear(self) -> None:
        with self._lock:
            self._cancel.set()
            self._cancel = threading.Event()
            self._jobs.clear()

    def submit(self, body: dict, faults=None) -> str:
        filter_, search = body.get("filter"), body.get("search")
        if filter_ is None and search is None:
            raise invalid("filter", "send filter, search or both", "REQUIRED_FIELD")
        with self.store.lock:
            add = self.store.existing_keys(body.get("labelKeysToAdd"), "labelKeysToAdd", False)
            remove = self.store.existing_keys(
                body.get("labelKeysToRemove"), "labelKeysToRemove", False
            )
            if not add and not remove:
                raise invalid("labelKeysToAdd", "add or remove at least one label", "MIN_SIZE")
            ids = self.store.matching_ids(filter_, search)
        job = {
            "id": str(uuid.uuid4()),
            "type": "ADD_REMOVE_LABELS",
            "status": "NEW",
            "totalItems": len(ids),
            "successTotal": 0,
            "failedTotal": 0,
            "errors": [],
        }
        with self._lock:
            self._jobs[job["id"]] = job
            cancel = self._cancel
        threading.Thread(
            target=self._run,
            args=(job, ids, add, remove, cancel, faults),
            name="bulk-job",
            daemon=True,
        ).start()
        return job["id"]

    def get(self, job_id: str) -> dict:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise not_found(f"Bulk job {job_id}")
            return _copy(job)

    def list(self) -> list[dict]:
        with self._lock:
            return [_copy(job) for job in reversed(self._jobs.values())][:100]

    def _run(self, job, ids: list[str], add, remove, cancel: threading.Event, faults) -> None:
        stuck = faults.stuck_jobs if faults is not None else None
        with self._lock:
            job["status"] = stuck or "RUNNING"
            job["startedDate"] = iso(now_ms())
        if stuck:
            return  # a job Wix never finishes (documented statuses, no documented deadline)
        fails = faults.job_failures if faults is not None else 0.0
        done = 0
        while done < len(ids) and not cancel.is_set():
            pace = self.items_per_second
            size = UNPACED_CHUNK if pace <= 0 else max(1, pace // CHUNKS_PER_SECOND)
            batch = ids[done : done + size]
            began = time.monotonic()
            failing = [cid for cid in batch if faults is not None and faults.chance(fails)]
            applied = [cid for cid in batch if cid not in set(failing)]
            missing = self.store.bulk_apply(applied, add, remove)
            done += len(batch)
            with self._lock:
                job["successTotal"] += len(applied) - len(missing)
                job["failedTotal"] += len(missing) + len(failing)
                job["errors"] += [
                    {"id": cid, "code": "NOT_FOUND", "message": f"Contact {cid} not found"}
                    for cid in missing
                ] + [
                    {"id": cid, "code": "INTERNAL", "message": f"Contact {cid} was not changed"}
                    for cid in failing
                ]
            if pace > 0:
                cancel.wait(len(batch) / pace - (time.monotonic() - began))
        with self._lock:
            job["status"] = "COMPLETED"
            job["finishedDate"] = iso(now_ms())


def _copy(job: dict) -> dict:
    return {**job, "errors": list(job["errors"])}
