"""The adversary harness, one seed per scenario: real ``specrunner`` processes, real signals (SIGSTOP,
SIGCONT, SIGKILL), real wall-clock skew (libfaketime), hand-made damage to the remote state's objects,
against ``specrunner emulator`` in its own process (``specrunner.testing.adversary``).

Every scenario must end with no job created twice on the service, no created job id missing from the
final state, every job Success, and the scenario's own expectations (exit codes, message fragments)
met; a failure lists each expectation that did not hold with the command's output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from specrunner.testing.adversary import contention, damage
from specrunner.testing.adversary.figures import Figures, line

SEED = 1


def check(run: Callable[[Path, int], Figures], tmp_path: Path) -> Figures:
    fig = run(tmp_path, SEED)
    if fig.skipped is not None:
        pytest.skip(fig.skipped)
    if fig.failures or (fig.duplicates, fig.lost, fig.finished) != (0, 0, True):
        pytest.fail(line(fig), pytrace=False)  # every expectation that failed, with output
    return fig


@pytest.mark.slow
def test_frozen_holder_is_taken_over_after_a_full_lease_and_submits_nothing_once_resumed(
    tmp_path: Path,
) -> None:
    check(contention.run_frozen, tmp_path)


@pytest.mark.slow
def test_frozen_holder_taken_over_by_a_waiter_whose_clock_is_100s_behind(tmp_path: Path) -> None:
    check(contention.run_frozen_skew, tmp_path)


@pytest.mark.slow
def test_force_unlock_of_a_live_holder_is_acknowledged_and_the_next_apply_completes(tmp_path: Path) -> None:
    check(contention.run_force_unlock, tmp_path)


@pytest.mark.slow
def test_a_waiter_whose_clock_is_100s_ahead_never_takes_over_a_live_holder(tmp_path: Path) -> None:
    check(contention.run_skew_ahead, tmp_path)


@pytest.mark.slow
def test_a_waiter_whose_clock_is_100s_behind_never_takes_over_a_live_holder(tmp_path: Path) -> None:
    check(contention.run_skew_behind, tmp_path)


@pytest.mark.slow
def test_two_manifests_both_named_m_yaml_on_one_state_the_second_is_refused(tmp_path: Path) -> None:
    check(contention.run_two_manifests, tmp_path)


@pytest.mark.slow
def test_two_manifests_with_distinct_names_on_one_state_the_second_is_refused(tmp_path: Path) -> None:
    check(contention.run_two_manifests_named, tmp_path)


@pytest.mark.slow
def test_a_journal_restored_as_a_normal_object_is_a_bounded_error_then_repaired(tmp_path: Path) -> None:
    check(damage.run_normal_journal, tmp_path)


@pytest.mark.slow
def test_deleted_lock_objects_and_head_are_an_error_naming_a_journal_then_repaired(tmp_path: Path) -> None:
    check(damage.run_deleted_lock_and_head, tmp_path)


@pytest.mark.slow
def test_an_implausible_head_is_a_bounded_error_naming_it_then_repaired(tmp_path: Path) -> None:
    check(damage.run_implausible_head, tmp_path)


@pytest.mark.slow
def test_a_damaged_journal_record_is_named_with_its_byte_and_repaired_by_tag(tmp_path: Path) -> None:
    check(damage.run_corrupt_journal, tmp_path)


@pytest.mark.slow
def test_a_symlinked_local_lock_file_survives_a_sigkill_and_stays_a_link(tmp_path: Path) -> None:
    check(damage.run_symlinked_local, tmp_path)


def test_advice_to_delete_is_told_from_a_warning_not_to() -> None:
    """The check the corrupt_journal scenario applies to the error (pure, runs in the default suite)."""
    assert damage.advises_removal("Do not delete the object: that drops every job") is None
    assert damage.advises_removal("never move it away") is None
    assert damage.advises_removal("delete the object and rerun") is not None
    assert damage.advises_removal("or move the journal aside, then rerun") is not None
