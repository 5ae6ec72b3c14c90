"""A sliding-window rate limit: at most N accepted requests in any 60 seconds."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

WINDOW = 60.0


class SlidingWindow:
    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._accepted: deque[float] = deque()
        self._lock = threading.Lock()

    def set(self, per_minute: int) -> None:
        with self._lock:
            self.per_minute = per_minute
            self._accepted.clear()

    def admit(self) -> int | None:
        """None if the request may go ahead, else whole seconds until it could.

        Refused requests are not recorded, so a client pacing itself at N per minute is never
        refused however often it was refused before.
        """
        now = time.monotonic()
        with self._lock:
            if self.per_minute <= 0:
                return None
            while self._accepted and self._accepted[0] <= now - WINDOW:
                self._accepted.popleft()
            if len(self._accepted) >= self.per_minute:
                return max(1, math.ceil(self._accepted[0] + WINDOW - now))
            self._accepted.append(now)
            return None
