"""The one place that reads the wall clock.

Everything else gets a ``Clock`` injected, so every time rule can be tested with ``FakeClock``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (UTC)."""
        ...


class SystemClock:
    # time.time itself, not a method around it: read a few times per message (a frame less)
    now = staticmethod(time.time)


@dataclass
class FakeClock:
    t: float = 1_700_000_000.0

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds
