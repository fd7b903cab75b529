"""Call onnxruntime with as little Python around it as possible.

The public `InferenceSession.run` re-validates its arguments on every call,
which on one row costs more than a small tree ensemble itself (figures in
docs/BENCHMARKS.md). The serving loop calls the underlying C++ session
instead, and for the commonest request, one record, runs through an I/O
binding over preallocated buffers, so a single-row call allocates nothing.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable

import numpy as np
import onnxruntime as ort

from infer.records import within_float32

_NUMBERS = {float, int}


class Scorer:
    def __init__(
        self,
        session: ort.InferenceSession,
        input_name: str,
        output_name: str,
        width: int,
        output_rank: int,
        lo: list[float] | None,
        hi: list[float] | None,
    ) -> None:
        self._session = session
        self._input = input_name
        self._outputs = [output_name]
        self._width = width
        self._lo = lo
        self._hi = hi
        self._lo_arr = None if lo is None else np.array(lo, dtype=np.float64)
        self._hi_arr = None if hi is None else np.array(hi, dtype=np.float64)
        self._run_options = ort.RunOptions()
        # The private C++ session skips the wrapper's per-call checks; the
        # pinned onnxruntime has it, and anything else falls back to run().
        self._sess = getattr(session, "_sess", None)
        self._row_fmt = struct.Struct(f"={width}f")
        self._x1 = np.zeros((1, width), dtype=np.float32)
        self._p1 = np.zeros((1,) if output_rank == 1 else (1, 1), dtype=np.float32)
        self._x1_view = memoryview(self._x1).cast("B")
        self._p1_view = memoryview(self._p1).cast("B").cast("f")
        binding = session.io_binding()
        binding.bind_cpu_input(input_name, self._x1)
        binding.bind_output(
            output_name, "cpu", 0, np.float32, list(self._p1.shape), self._p1.ctypes.data
        )
        self._binding = binding
        self._raw_binding = getattr(binding, "_iobinding", None)
        self.one = self._make_one()

    def batch(self, rows: np.ndarray) -> np.ndarray:
        """float32 [N, F] -> float32 [N]."""
        if self._sess is not None:
            out = self._sess.run(self._outputs, {self._input: rows}, self._run_options)[0]
        else:
            out = self._session.run(self._outputs, {self._input: rows})[0]
        return out.reshape(-1) if out.ndim != 1 else out

    def _make_one(self) -> Callable[[list[float | int]], tuple[float, bool | None] | None]:
        """Build `one` and `one32` as closures: locals are cheaper than attributes here."""
        width, fmt, view, p1 = self._width, self._row_fmt, self._x1_view, self._p1_view
        lo, hi, numbers, isfinite = self._lo, self._hi, _NUMBERS, math.isfinite
        if self._raw_binding is not None and self._sess is not None:
            run = functools.partial(
                self._sess.run_with_iobinding, self._raw_binding, self._run_options
            )
        else:
            run = functools.partial(self._session.run_with_iobinding, self._binding)

        def scored(x32: tuple[float, ...]) -> tuple[float, bool | None] | None:
            """(p, ood) for the row x32 already packed into the input buffer."""
            run()
            p = p1[0]
            if not 0.0 <= p <= 1.0:  # NaN too: the batch path answers bad_output
                return None
            if lo is None or hi is None:
                return p, None
            for x, a, b in zip(x32, lo, hi, strict=False):  # equal lengths by construction
                if x < a or x > b:
                    return p, True
            return p, False

        def one32(x32: tuple[float, ...]) -> tuple[float, bool | None] | None:
            """(p, ood) for `width` values exactly representable as float32; None
            when one is NaN or ±Inf (the full checks then name it) or when the
            model's answer is not a probability (the batch path reports it)."""
            if not isfinite(sum(x32)):  # NaN or ±Inf (float32 values cannot overflow a sum)
                return None
            fmt.pack_into(view, 0, *x32)
            return scored(x32)

        def one64(x64: tuple[float, ...] | list[float | int]) -> tuple[float, bool | None] | None:
            """As one32 for `width` numbers, rounded to float32 as the batch path
            rounds them; None also when one is finite but beyond float32 (the
            pack below would round a value within half a step of it down)."""
            if not (isfinite(sum(x64)) and within_float32(x64)):
                return None
            try:
                fmt.pack_into(view, 0, *x64)
            except (OverflowError, struct.error):
                return None
            return scored(fmt.unpack_from(view))

        def one(values: list[float | int]) -> tuple[float, bool | None] | None:
            """(p, ood) for one valid array record; None when it needs the full checks."""
            if len(values) != width or not set(map(type, values)) <= numbers:
                return None
            return one64(values)

        self.one64 = one64
        self.one32 = one32
        return one

    def ood(self, rows: np.ndarray) -> list[bool] | None:
        if self._lo_arr is None or self._hi_arr is None:
            return None
        return ((rows < self._lo_arr) | (rows > self._hi_arr)).any(axis=1).tolist()
