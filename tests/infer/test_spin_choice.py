"""infer/spin.py: the spin mode follows the client's measured turnarounds."""

from __future__ import annotations

from collections.abc import Callable

from infer.spin import (
    PERIOD_MAX_READS,
    PERIOD_MIN_READS,
    RUN_READS,
    SETTLE_READS,
    TRIAL_READS,
    TURNAROUND_MAX_S,
    SpinChoice,
)

Turnaround = Callable[[bool, int], float]  # (spun, reads since the mode last changed) -> s


def run_period(choice: SpinChoice, turnaround: dict[bool, float] | Turnaround) -> list[bool]:
    """One period of ping-pong reads answered with the given turnaround per mode; the modes used."""
    used: list[bool] = []
    since = 0
    for _ in range(choice.period):
        spin = choice.spin_next()
        since = since + 1 if used and used[-1] == spin else 0
        used.append(spin)
        t = turnaround[spin] if isinstance(turnaround, dict) else turnaround(spin, since)
        choice.observe(spin, t)
    return used


def test_most_reads_use_the_preferred_mode_and_a_trial_tries_the_other_in_runs() -> None:
    choice = SpinChoice(prefer_spin=True)
    used = run_period(choice, {True: 10e-6, False: 10e-6})
    steady = PERIOD_MIN_READS - TRIAL_READS
    assert used[:steady] == [True] * steady
    run = RUN_READS
    assert used[steady:] == [False] * run + [True] * run + [False] * run + [True] * run
    assert choice.prefer_spin and choice.switches == 0  # equal: no reason to switch


def test_each_confirming_trial_spaces_the_next_one_out_and_a_switch_brings_it_back() -> None:
    choice = SpinChoice(prefer_spin=True)
    for want in (2, 4, 8, 16, 32, 32):
        run_period(choice, {True: 8e-6, False: 20e-6})
        assert choice.period == min(PERIOD_MAX_READS, want * PERIOD_MIN_READS)
    used = run_period(choice, {True: 30e-6, False: 15e-6})
    assert used.count(False) == TRIAL_READS // 2  # under 1% of the reads tried the other mode
    assert used.count(False) < 0.01 * len(used)
    assert not choice.prefer_spin and choice.period == PERIOD_MIN_READS


def test_a_client_faster_without_spin_turns_the_spin_off_and_back_on_when_that_changes() -> None:
    choice = SpinChoice(prefer_spin=True)
    run_period(choice, {True: 30e-6, False: 15e-6})  # a blocking client
    assert not choice.prefer_spin and choice.switches == 1
    run_period(choice, {True: 30e-6, False: 15e-6})
    assert not choice.prefer_spin
    run_period(choice, {True: 8e-6, False: 17e-6})  # a spinning client
    assert choice.prefer_spin and choice.switches == 2


def test_the_first_reads_after_a_mode_change_are_not_judged() -> None:
    # Blocking pays here, but only once the kernel has settled where the two
    # processes run: its first reads after each change are slow.
    def turnaround(spun: bool, since: int) -> float:
        if spun:
            return 20e-6
        return 100e-6 if since < SETTLE_READS else 10e-6

    choice = SpinChoice(prefer_spin=True)
    run_period(choice, turnaround)
    assert not choice.prefer_spin
    assert choice.last_trial_us == {"spin": 20.0, "block": 10.0}


def test_a_difference_inside_the_margin_keeps_the_mode() -> None:
    choice = SpinChoice(prefer_spin=True)
    run_period(choice, {True: 10e-6, False: 9.5e-6})
    assert choice.prefer_spin


def test_idle_gaps_teach_nothing() -> None:
    choice = SpinChoice(prefer_spin=True)
    run_period(choice, {True: 2 * TURNAROUND_MAX_S, False: 10e-6})  # the preferred mode: no sample
    run_period(choice, {True: 0.1, False: 0.1})  # slow client: no sample in either mode
    assert choice.prefer_spin and choice.switches == 0 and choice.last_trial_us is None


def test_traffic_with_several_requests_per_read_never_completes_a_trial() -> None:
    choice = SpinChoice(prefer_spin=True)
    for _ in range(20 * PERIOD_MIN_READS // 100):
        for _ in range(100):
            spin = choice.spin_next()
            choice.observe(spin, 30e-6 if spin else 5e-6)
        choice.restart()  # a read that held a batch
    assert choice.prefer_spin and choice.switches == 0 and choice.last_trial_us is None
