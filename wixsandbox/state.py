"""--state: load at start, save after changes (debounced) and at shutdown, atomically."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

from .store import Store

DEBOUNCE = 0.5
MAX_DELAY = 5.0


class StateFile:
    def __init__(self, store: Store, path: str):
        self.store = store
        self.path = Path(path)
        self._dirty = threading.Event()
        self._saving = threading.Lock()
        self._closed = False
        threading.Thread(target=self._run, name="state-saver", daemon=True).start()

    def load(self) -> bool:
        if not self.path.exists():
            return False
        self.store.load_state(json.loads(self.path.read_bytes()))
        return True

    def mark_dirty(self) -> None:
        self._dirty.set()

    def save(self) -> None:
        with self._saving:
            data = self.store.state_bytes()
            # Write a sibling temp file and rename it over, so a crash never leaves half a file.
            temporary = self.path.with_name(self.path.name + ".tmp")
            temporary.write_bytes(data)
            os.replace(temporary, self.path)

    def close(self) -> None:
        self._closed = True
        self._dirty.set()
        self.save()

    def _run(self) -> None:
        while not self._closed:
            self._dirty.wait()
            first = time.monotonic()
            self._dirty.clear()
            # Save once a burst of changes goes quiet, or every few seconds during a long one.
            while self._dirty.wait(DEBOUNCE) and time.monotonic() - first < MAX_DELAY:
                self._dirty.clear()
            if self._closed:
                return
            self.save()
