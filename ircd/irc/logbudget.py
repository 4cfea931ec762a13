"""A per-connection budget of log lines, so that no client can fill the server's log.

Every log line written because of what one client did (a bad password, a too-long line, a
command that failed) is taken from that connection's budget: a token bucket holding
:data:`LOG_BURST` lines that refills by :data:`LOG_LINES_PER_MINUTE`. When it runs dry, one
line says that further lines from that client are suppressed; once half the burst has
refilled (so that a steady flood does not flap between the two), one line says how many were
dropped, and logging resumes. So a connection writes at most
``LOG_BURST + LOG_LINES_PER_MINUTE * minutes`` lines of its own, plus two per episode of
suppression (an episode lasts at least ``LOG_BURST / 2 / LOG_LINES_PER_MINUTE`` minutes),
however fast it sends: for ten minutes of flood, at most 20 + 60 + 2 * 7 = 94 lines.
Server-wide events (start, stop, storage failures) are not logged through a budget.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LOG_BURST", "LOG_LINES_PER_MINUTE", "RESUME_AT", "LogBudget"]

LOG_BURST = 20  # lines a connection may log at once: far more than a normal login writes
LOG_LINES_PER_MINUTE = 6.0  # then this many a minute
RESUME_AT = LOG_BURST / 2  # after suppression, logging resumes with this many lines in hand

# what LogBudget.take says to do with one line
LOG = 0  # write it
SUPPRESS_START = 1  # write "further lines suppressed" instead (the budget just ran out)
DROP = 2  # write nothing (counted)


@dataclass(slots=True)
class LogBudget:
    tokens: float = float(LOG_BURST)
    at: float | None = None  # when ``tokens`` was last brought up to date
    dropped: int = 0  # lines dropped since suppression started (0: not suppressing)
    dropped_total: int = 0  # lines dropped over the whole connection

    def take(self, now: float) -> int:
        """Spend one line at clock time ``now``: LOG, SUPPRESS_START or DROP. After a run of
        drops, the first LOG means the caller should also say how many were dropped
        (``resumed`` gives the count, once)."""
        if self.at is not None:
            elapsed = max(0.0, now - self.at)
            self.tokens = min(float(LOG_BURST), self.tokens + elapsed * LOG_LINES_PER_MINUTE / 60)
        self.at = now
        if self.tokens < (RESUME_AT if self.dropped else 1):
            self.dropped_total += 1
            self.dropped += 1
            return SUPPRESS_START if self.dropped == 1 else DROP
        self.tokens -= 1
        return LOG

    def resumed(self) -> int:
        """Lines dropped in the episode of suppression that just ended (0 if none)."""
        n, self.dropped = self.dropped, 0
        return n
