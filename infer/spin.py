"""Whether the serving loop should spin on stdin before it blocks: learned
from the client's own round trips.

Spinning pays when the client spins too (the Go predictor): its next request
then finds the sidecar running, with no wake-up on either side. It costs when
the client blocks in read(): our answer wakes the client, often onto the CPU
where we keep spinning, and the client waits for that CPU while we wait for
its request; a sidecar that blocks right after its answer leaves the CPU to
the client at once, as a bare echo does. The sidecar cannot see how the
client reads, so it measures: the turnaround of a request is the time from
just before our answer's write to the next request read. Only ping-pong
traffic is measured, a read that held one request answered alone: a client
with several requests in flight is served best by spinning (the next ones
are usually already there), so the transport spins after a batch whatever
the choice, and a batch restarts the current period (mixed traffic never
completes a trial, so it never flips the mode). Most reads use the preferred
mode; the last TRIAL_READS of every period try the two modes in runs of
RUN_READS reads in a row, starting with the other mode, because the kernel
needs a few round trips to settle where it places the two processes after
a change (the first SETTLE_READS reads of a run are not sampled). The mode
with the smaller median turnaround (by MARGIN, to keep noise from flipping
it) is preferred for the next period. A period starts at PERIOD_MIN_READS
and doubles, up to PERIOD_MAX_READS, each time a trial confirms the mode: a
new client is learned within a few hundred requests, and a steady one sees
the other mode on 32 reads in thousands (under 1%, so its p99 is the
preferred mode's). Only turnarounds under TURNAROUND_MAX_S count: a slower
client is idle between requests, where neither mode helps and spinning is
capped by the spin budget anyway.
"""

from __future__ import annotations

import statistics

PERIOD_MIN_READS = 512
PERIOD_MAX_READS = 16_384
TRIAL_READS = 64  # two runs of each mode
RUN_READS = 16
SETTLE_READS = 8
TURNAROUND_MAX_S = 1e-3
MARGIN = 0.9  # the other mode must be 10% faster to take over


class SpinChoice:
    def __init__(self, prefer_spin: bool = True) -> None:
        self.prefer_spin = prefer_spin
        self.switches = 0
        # Median turnarounds (µs) of the last trial that had samples of both modes.
        self.last_trial_us: dict[str, float] | None = None
        self.period = PERIOD_MIN_READS  # reads in the current period, trial included
        self._i = 0  # reads done in the current period
        self._samples: dict[bool, list[float]] = {True: [], False: []}

    def spin_next(self) -> bool:
        """Whether the next ping-pong read spins."""
        j = self._i - (self.period - TRIAL_READS)
        if j < 0:
            return self.prefer_spin
        other_run = (j // RUN_READS) % 2 == 0
        return self.prefer_spin != other_run

    def restart(self) -> None:
        """Traffic is not ping-pong (a read held several requests): start the period over."""
        if self._i:
            self._i = 0
            self._samples[True].clear()
            self._samples[False].clear()

    def observe(self, spun: bool, turnaround_s: float) -> None:
        """Record one ping-pong read made with spin `spun` and the turnaround it completed."""
        i = self._i
        self._i += 1
        j = i - (self.period - TRIAL_READS)
        if j >= 0 and j % RUN_READS >= SETTLE_READS and turnaround_s < TURNAROUND_MAX_S:
            self._samples[spun].append(turnaround_s)
        if self._i == self.period:
            self._i = 0
            self._decide()

    def _decide(self) -> None:
        mine, other = self._samples[self.prefer_spin], self._samples[not self.prefer_spin]
        enough = TRIAL_READS // 8
        if len(mine) >= enough and len(other) >= enough:
            m_mine, m_other = statistics.median(mine), statistics.median(other)
            spin, block = (m_mine, m_other) if self.prefer_spin else (m_other, m_mine)
            self.last_trial_us = {"spin": round(spin * 1e6, 2), "block": round(block * 1e6, 2)}
            if m_other < MARGIN * m_mine:
                self.prefer_spin = not self.prefer_spin
                self.switches += 1
                self.period = PERIOD_MIN_READS
            else:
                self.period = min(PERIOD_MAX_READS, 2 * self.period)
        mine.clear()
        other.clear()
