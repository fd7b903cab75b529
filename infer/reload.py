"""Load replacement models off the serving path, one attempt at a time.

SIGHUP and the `reload` method both call request() from the serving thread.
A background thread runs the (slow) load and validation, then wakes the
serving loop, which swaps the model in between two batches — so every request
is answered by exactly one model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from infer.model import Model, ModelError


@dataclass(frozen=True, slots=True)
class Attempt:
    number: int
    model: Model | None
    error: str | None
    path: str


class Reloader:
    def __init__(
        self, load: Callable[[], Model], path: Callable[[], str], wake: Callable[[], None]
    ) -> None:
        self._load = load
        self._path = path
        self._wake = wake
        self._lock = threading.Lock()
        self._running = False
        self._again = False
        self._started = 0  # number of the latest attempt started
        # Finished attempts not yet taken by finished(). The serving loop checks it
        # for emptiness without the lock on every turn; only finished() mutates it.
        self.results: list[Attempt] = []
        self._thread: threading.Thread | None = None

    def request(self) -> int:
        """Ask for a reload; return the number of the attempt that will honour it.

        A request made while an attempt is running is served by the next one,
        since the running attempt may have resolved the path before the change.
        """
        with self._lock:
            if self._running:
                self._again = True
                return self._started + 1
            self._running = True
            self._started += 1
            number = self._started
        self._thread = threading.Thread(
            target=self._run, args=(number,), name="reload", daemon=True
        )
        self._thread.start()
        return number

    def _run(self, number: int) -> None:
        while True:
            path = self._path()
            try:
                attempt = Attempt(number, self._load(), None, path)
            except ModelError as exc:
                attempt = Attempt(number, None, str(exc), path)
            except Exception as exc:  # a bug must not kill the thread silently
                attempt = Attempt(
                    number, None, f"internal error: {type(exc).__name__}: {exc}", path
                )
            with self._lock:
                self.results.append(attempt)
                again, self._again = self._again, False
                if again:
                    self._started += 1
                    number = self._started
                else:
                    self._running = False
            self._wake()
            if not again:
                return

    def finished(self) -> list[Attempt]:
        """Attempts completed since the last call (cheap when there are none)."""
        if not self.results:
            return []
        with self._lock:
            done, self.results = self.results, []
        return done

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def settle(waiters: list[tuple[int, int]], number: int) -> tuple[list[int], list[tuple[int, int]]]:
    """Split (msgid, attempt number) of waiting `reload` calls into the msgids
    that attempt `number` answers and the waiters left for a later attempt."""
    done = [msgid for msgid, n in waiters if n <= number]
    return done, [(msgid, n) for msgid, n in waiters if n > number]
