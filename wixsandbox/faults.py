"""Fault injection: random 5xx/429 answers, dropped connections and added latency, and the
awkward behaviours a real Wix site may show that the sandbox is otherwise too kind to show:

- `short_pages=N`: query and list pages hold at most N items even while more remain (Wix
  documents a maximum page size, never that pages are full);
- `label_churn=P`: a labels page asked for at an offset first deletes, with probability P, the
  user label just before that offset (one the reader has already seen), so that what remains
  shifts back by one, as a deletion in Wix during a pull does;
- `stuck_jobs=STATUS`: bulk jobs stop in STATUS (e.g. LOADING) and never complete;
- `job_failures=P`: each contact of a bulk job fails with probability P;
- `late_answers=20-200ms`: a request that changes something is carried out at once, but its
  answer is sent only after that long: a client that dies or times out meanwhile does not know
  that Wix did it (the window the operation journal's settling exists for).

One seeded RNG draws twice per request (outcome, then latency) whatever the spec, so the same
seed and the same sequence of requests give the same faults; the behaviours draw from their own.
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


JOB_STATUSES = ("UNKNOWN_STATUS", "NEW", "LOADING", "RUNNING", "INDEXING")
BEHAVIOURS = ("short_pages", "label_churn", "stuck_jobs", "job_failures", "late_answers")
CHANGING_METHODS = ("POST", "PATCH", "DELETE", "PUT")


class Faults:
    def __init__(self, spec: str = "", seed: int | None = None):
        self.spec = spec.strip()
        self.outcomes, self.latency, behaviours = parse_spec(self.spec)
        self.short_pages: int | None = behaviours.get("short_pages")
        self.label_churn: float = behaviours.get("label_churn", 0.0)
        self.stuck_jobs: str | None = behaviours.get("stuck_jobs")
        self.job_failures: float = behaviours.get("job_failures", 0.0)
        self.late_answers: tuple[float, float] | None = behaviours.get("late_answers")
        self.seed = seed
        self._rng = random.Random(seed)
        self._behaviour_rng = random.Random(seed)
        self._lock = threading.Lock()

    def chance(self, probability: float) -> bool:
        """True with `probability` (for the behaviours, never for the HTTP faults' sequence)."""
        if probability <= 0:
            return False
        with self._lock:
            return self._behaviour_rng.random() < probability

    def answer_delay(self, method: str) -> float:
        """Seconds to hold back the answer to a request that changed something."""
        if self.late_answers is None or method not in CHANGING_METHODS:
            return 0.0
        low, high = self.late_answers
        with self._lock:
            spread = self._behaviour_rng.random()
        return (low + (high - low) * spread) / 1000

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


def _milliseconds(name: str, value: str) -> tuple[float, float]:
    match = _LATENCY.match(value)
    if not match:
        raise ValueError(f"{name} {value!r} must look like 50ms or 20-200ms")
    low = float(match[1])
    high = float(match[2]) if match[2] else low
    if high < low:
        raise ValueError(f"{name} {value!r}: the range is upside down")
    return low, high


def _probability(name: str, value: str) -> float:
    try:
        probability = float(value)
    except ValueError:
        raise ValueError(f"fault {name}: {value!r} is not a probability") from None
    if not 0 <= probability <= 1:
        raise ValueError(f"fault {name}: probability must be between 0 and 1")
    return probability


def _behaviour(name: str, value: str) -> object:
    if name == "short_pages":
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"short_pages={value!r}: give the largest page, a whole number >= 1")
        return int(value)
    if name == "stuck_jobs":
        status = value.upper()
        if status not in JOB_STATUSES:
            raise ValueError(f"stuck_jobs={value!r}: one of {', '.join(JOB_STATUSES)}")
        return status
    return _probability(name, value)


def parse_spec(
    spec: str,
) -> tuple[list[tuple[str, float]], tuple[float, float] | None, dict[str, object]]:
    """'500=0.05,429=0.05,reset=0.01,latency=20-200ms,short_pages=400' -> outcomes, latency
    range, behaviours."""
    outcomes: list[tuple[str, float]] = []
    latency = None
    behaviours: dict[str, object] = {}
    for part in filter(None, (piece.strip() for piece in spec.split(","))):
        name, sep, value = part.partition("=")
        name, value = name.strip().lower(), value.strip().lower()
        if not sep:
            raise ValueError(f"fault {part!r} needs the form name=value")
        if name == "latency":
            latency = _milliseconds(name, value)
            continue
        if name == "late_answers":
            behaviours[name] = _milliseconds(name, value)
            continue
        if name in BEHAVIOURS:
            behaviours[name] = _behaviour(name, value)
            continue
        if name != RESET and not (name.isdigit() and (name == "429" or name.startswith("5"))):
            raise ValueError(
                f"fault {name!r} must be reset, 429, a 5xx status, latency or one of "
                + ", ".join(BEHAVIOURS)
            )
        outcomes.append((name, _probability(name, value)))
    if sum(probability for _, probability in outcomes) > 1 + 1e-9:
        raise ValueError("fault probabilities add up to more than 1")
    return outcomes, latency, behaviours
