"""The completion of a journal append: done at once (``FileStore``: after its ``os.write``) or
later (a networked log: when its append returns). Sans-I/O: no event loop, no threads; a store
completes it on the thread that runs the server's loop.

The server holds a pass's output until the ``Durable`` of that pass's events is done
(``ircd/irc/output.py``); a failed one stops the server with nothing released.
"""

from __future__ import annotations

from collections.abc import Callable


class Durable:
    """Done, failed, or still pending; ``then`` runs a callback once it is settled."""

    __slots__ = ("_waiting", "done", "error")

    def __init__(self) -> None:
        self.done = False  # settled: durable, or failed (then ``error`` says why)
        self.error: BaseException | None = None
        self._waiting: list[Callable[[Durable], None]] = []

    @classmethod
    def completed(cls) -> Durable:
        """A ``Durable`` that is already done (what a synchronous store returns)."""
        return DONE

    def then(self, callback: Callable[[Durable], None]) -> None:
        """``callback(self)`` once settled: now if it already is."""
        if self.done:
            callback(self)
        else:
            self._waiting.append(callback)

    def resolve(self) -> None:
        """The events are durable. Settling twice does nothing."""
        self._settle(None)

    def fail(self, error: BaseException) -> None:
        """The events could not be made durable: nothing that shows them may be released."""
        self._settle(error)

    def _settle(self, error: BaseException | None) -> None:
        if self.done:
            return
        self.done, self.error = True, error
        waiting, self._waiting = self._waiting, []
        for callback in waiting:
            callback(self)

    def __repr__(self) -> str:
        state = "pending" if not self.done else "done" if self.error is None else "failed"
        return f"<Durable {state}>"


DONE = Durable()
DONE.resolve()
