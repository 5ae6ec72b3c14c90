"""Fault injection: random 5xx/429 answers, dropped connections and added latency.

One seeded RNG draws twice per request (outcome, then latency) whatever the spec, so the same
seed and the same sequence of requests give the same faults.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import dataclass

RESET = "reset"
_LATENCY = re.compile(r"^(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?ms$")


@dataclass(frozen=True)
class Fault:
    outcome: str | None  # "500", "503", "429", ... or "reset"; None answers normally
    delay: float  # seconds


class Faults:
    def __init__(self, spec: str = "", seed: int | None = None):
        self.spec = spec.strip()
        self.outcomes, self.latency = parse_spec(self.spec)
        self.seed = seed
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return bool(self.outcomes) or self.latency is not None

    def draw(self) -> Fault:
        with self._lock:
            roll, spread = self._rng.random(), self._rng.random()
        outcome, cumulative = None, 0.0
        for name, probability in self.outcomes:
            cumulative += probability
            if roll < cumulative:
                outcome = name
                break
        delay = 0.0
        if self.latency is not None:
            low, high = self.latency
            delay = (low + (high - low) * spread) / 1000
        return Fault(outcome, delay)


def parse_spec(spec: str) -> tuple[list[tuple[str, float]], tuple[float, float] | None]:
    """'500=0.05,503=0.02,429=0.05,reset=0.01,latency=20-200ms' -> outcomes, latency range."""
    outcomes: list[tuple[str, float]] = []
    latency = None
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        name, sep, value = part.partition("=")
        name, value = name.strip().lower(), value.strip().lower()
        if not sep:
            raise ValueError(f"fault {part!r} needs the form name=value")
        if name == "latency":
            match = _LATENCY.match(value)
            if not match:
                raise ValueError(f"latency {value!r} must look like 50ms or 20-200ms")
            low = float(match[1])
            high = float(match[2]) if match[2] else low
            if high < low:
                raise ValueError(f"latency {value!r}: the range is upside down")
            latency = (low, high)
            continue
        if name != RESET and not (name.isdigit() and (name == "429" or name.startswith("5"))):
            raise ValueError(f"fault {name!r} must be reset, 429 or a 5xx status")
        try:
            probability = float(value)
        except ValueError:
            raise ValueError(f"fault {name}: {value!r} is not a probability") from None
        if not 0 <= probability <= 1:
            raise ValueError(f"fault {name}: probability must be between 0 and 1")
        outcomes.append((name, probability))
    if sum(probability for _, probability in outcomes) > 1 + 1e-9:
        raise ValueError("fault probabilities add up to more than 1")
    return outcomes, latency
