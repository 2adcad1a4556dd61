"""The retired list and the prune plan, as pure functions: what a record change retires, and what a
prune deletes, keeps and forgets (never an object a wanted record names)."""

from __future__ import annotations

from specrunner.core.record import LockEntry
from specrunner.core.retired import Retired, plan_prune, retirements


def rec(job_id: str | None, *outputs: str, state: str = "Success") -> LockEntry:
    return LockEntry("sha256:x", "sync", "in/v.mp4", "r", {}, job_id, state, outputs=tuple(outputs))


def test_a_replacement_retires_what_the_new_record_no_longer_names() -> None:
    old = rec("J1", "out/a.jpg", "out/b.jpg")
    gone, named = retirements("v::r", old, rec("J2", "out/b.jpg", "out/c.jpg"))
    assert gone == [Retired("out/a.jpg", "v::r", "J1")]
    assert named == ["out/b.jpg", "out/c.jpg"]


def test_an_intent_retires_everything_and_the_success_names_it_again() -> None:
    old = rec("J1", "out/a.jpg")
    intent = rec(None, state="")  # a replacement in flight names nothing yet
    assert retirements("v::r", old, intent) == ([Retired("out/a.jpg", "v::r", "J1")], [])
    assert retirements("v::r", intent, rec("J2", "out/a.jpg")) == ([], ["out/a.jpg"])


def test_a_dropped_record_retires_all_it_named() -> None:
    assert retirements("v::r", rec("J1", "out/a.jpg"), None) == ([Retired("out/a.jpg", "v::r", "J1")], [])
    assert retirements("v::r", None, None) == ([], [])


def test_the_plan_deletes_forgotten_outputs_and_retired_objects_grouped_by_job() -> None:
    records = {"old::r": rec("J9", "out/old.jpg"), "v::r": rec("J2", "out/new.jpg")}
    retired = {"out/was.jpg": Retired("out/was.jpg", "v::r", "J1")}
    plan = plan_prune(records, retired, wanted=lambda k: k == "v::r")
    assert [(d.object, d.job, d.job_id, d.source) for d in plan.deletions] == [
        ("out/old.jpg", "old::r", "J9", "forgotten"),
        ("out/was.jpg", "v::r", "J1", "retired"),
    ]
    assert plan.forget == ("old::r",) and plan.kept == ()


def test_never_deletes_what_a_wanted_record_names_even_if_an_old_job_named_it_too() -> None:
    records = {"old::r": rec("J9", "out/shared.jpg", "out/only-old.jpg"), "v::r": rec("J2", "out/a.jpg")}
    retired = {"out/a.jpg": Retired("out/a.jpg", "x::r", "J0")}
    plan = plan_prune(records, retired, wanted=lambda k: k == "v::r")
    assert plan.objects == ["out/only-old.jpg", "out/shared.jpg"]
    assert [(d.object, d.named) for d in plan.kept] == [("out/a.jpg", True)]
    assert "named by v::r" in plan.kept[0].kept
    # The forgotten record that also named a wanted job's object: still forgotten, object kept.
    records["v::r"] = rec("J2", "out/a.jpg", "out/shared.jpg")
    plan = plan_prune(records, retired, wanted=lambda k: k == "v::r")
    assert plan.objects == ["out/only-old.jpg"] and plan.forget == ("old::r",)
    assert sorted(plan.settled) == ["out/a.jpg", "out/shared.jpg"]


def test_a_wanted_job_whose_replacement_has_not_succeeded_keeps_its_old_objects() -> None:
    retired = {"out/a.jpg": Retired("out/a.jpg", "v::r", "J1")}
    for state in ("Fail", "Submitted", ""):
        plan = plan_prune({"v::r": rec("J2", state=state)}, retired, wanted=lambda k: True)
        assert plan.objects == [] and not plan.has_changes
        assert "has not finished its replacement" in plan.kept[0].kept and not plan.kept[0].named
    plan = plan_prune({"v::r": rec("J2", "out/b.jpg")}, retired, wanted=lambda k: True)
    assert plan.objects == ["out/a.jpg"]


def test_selection_limits_what_is_deleted_not_what_is_protected() -> None:
    records = {"a::r": rec("J1", "out/a.jpg"), "b::r": rec("J2", "out/b.jpg"), "w::r": rec("J3", "out/w.jpg")}
    retired = {
        "out/w.jpg": Retired("out/w.jpg", "a::r", "J0"),
        "out/x.jpg": Retired("out/x.jpg", "b::r", None),
    }
    plan = plan_prune(records, retired, wanted=lambda k: k == "w::r", selected=lambda k: k == "a::r")
    assert plan.objects == ["out/a.jpg"] and plan.forget == ("a::r",)
    assert [d.object for d in plan.kept] == ["out/w.jpg"]  # selected, but a wanted record names it


def test_records_without_outputs_are_left_to_apply() -> None:
    plan = plan_prune({"gone::r": rec(None, state="Fail")}, {}, wanted=lambda k: False)
    assert not plan.has_changes and plan.forget == ()
