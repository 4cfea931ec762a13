"""Work that completes later, on the event loop's thread: ``Pending[T]`` is done with a value,
failed with an error, or still pending; ``then`` runs a callback once it is settled.
Sans-I/O: no event loop, no threads; whoever does the work settles it on the loop's thread.

Two kinds of work use it, so both hold a connection's output the same way:

* a journal append (``Durable``, returned by ``Store.append``): done at once for ``FileStore``
  (after its ``os.write``) or later (a networked log: when its append returns). The server
  holds a pass's output until the ``Durable`` of that pass's events is done
  (``ircd/irc/output.py``); a failed one stops the server with nothing released.
* off-loop work such as password hashing (``Hub.offload`` returns a ``Pending`` of the work's
  result; ``ircd/irc/dispatch.py`` ``defer``): the connection's later lines wait, in order,
  until it is settled; everyone else is served.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Pending(Generic[T]):
    """Done (with ``value``), failed (``error`` says why), or still pending."""

    __slots__ = ("_value", "_waiting", "done", "error")

    def __init__(self) -> None:
        self.done = False  # settled: with a value, or failed (then ``error`` says why)
        self.error: BaseException | None = None
        self._value: T | None = None
        self._waiting: list[Callable[[Pending[T]], None]] = []

    @classmethod
    def of(cls, value: T) -> Pending[T]:
        """A ``Pending`` already done with ``value``."""
        p: Pending[T] = cls()
        p.resolve(value)
        return p

    @property
    def value(self) -> T:
        """The result; only once done without an error."""
        if not self.done or self.error is not None:
            raise RuntimeError(f"no value: {self!r}")
        return self._value  # type: ignore[return-value]

    def then(self, callback: Callable[[Pending[T]], None]) -> None:
        """``callback(self)`` once settled: now if it already is."""
        if self.done:
            callback(self)
        else:
            self._waiting.append(callback)

    def resolve(self, value: T) -> None:
        """The work is done with ``value``. Settling twice does nothing."""
        if not self.done:
            self._value = value
            self._settle(None)

    def fail(self, error: BaseException) -> None:
        """The work failed: nothing that depends on it may go on as if it were done."""
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
        return f"<{type(self).__name__} {state}>"


class Durable(Pending[None]):
    """The completion of a journal append: the events handed to the store are durable."""

    __slots__ = ()

    @classmethod
    def completed(cls) -> Durable:
        """A ``Durable`` that is already done (what a synchronous store returns)."""
        return DONE

    def resolve(self, value: None = None) -> None:
        """The events are durable. Settling twice does nothing."""
        super().resolve(value)


DONE = Durable()
DONE.resolve()
