"""infer/spin.py: the spin mode follows the client's measured turnarounds."""

from __future__ import annotations

from infer.spin import PERIOD_MAX_READS, PERIOD_MIN_READS, TURNAROUND_MAX_S, SpinChoice


def run_period(choice: SpinChoice, turnaround: dict[bool, float | None]) -> list[bool]:
    """One period of reads answered with the given turnaround per mode; the modes used."""
    used = []
    for _ in range(choice.period):
        spin = choice.spin_next()
        used.append(spin)
        choice.observe(spin, turnaround[spin])
    return used


def test_most_reads_use_the_preferred_mode_and_a_trial_tries_the_other() -> None:
    choice = SpinChoice(prefer_spin=True)
    used = run_period(choice, {True: 10e-6, False: 10e-6})
    steady = PERIOD_MIN_READS - 32
    assert used.count(False) == 16 and used[:steady] == [True] * steady
    assert choice.prefer_spin and choice.switches == 0  # equal: no reason to switch


def test_each_confirming_trial_spaces_the_next_one_out_and_a_switch_brings_it_back() -> None:
    choice = SpinChoice(prefer_spin=True)
    for want in (2, 4, 8, 16, 32, 32):
        run_period(choice, {True: 8e-6, False: 20e-6})
        assert choice.period == min(PERIOD_MAX_READS, want * PERIOD_MIN_READS)
    used = run_period(choice, {True: 30e-6, False: 15e-6})
    assert used.count(False) == 16  # under 1% of the reads tried the other mode
    assert not choice.prefer_spin and choice.period == PERIOD_MIN_READS


def test_a_client_faster_without_spin_turns_the_spin_off_and_back_on_when_that_changes() -> None:
    choice = SpinChoice(prefer_spin=True)
    run_period(choice, {True: 30e-6, False: 15e-6})  # a blocking client
    assert not choice.prefer_spin and choice.switches == 1
    run_period(choice, {True: 30e-6, False: 15e-6})
    assert not choice.prefer_spin
    run_period(choice, {True: 8e-6, False: 17e-6})  # a spinning client
    assert choice.prefer_spin and choice.switches == 2


def test_a_difference_inside_the_margin_keeps_the_mode() -> None:
    choice = SpinChoice(prefer_spin=True)
    run_period(choice, {True: 10e-6, False: 9.5e-6})
    assert choice.prefer_spin


def test_idle_gaps_and_reads_without_an_answer_before_them_teach_nothing() -> None:
    choice = SpinChoice(prefer_spin=True)
    run_period(choice, {True: 2 * TURNAROUND_MAX_S, False: None})
    run_period(choice, {True: 0.1, False: None})  # slow client: no sample in either mode
    assert choice.prefer_spin and choice.switches == 0
