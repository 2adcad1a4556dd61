"""`moved:` entries planned against a state: moved (nothing submitted), already applied (nothing),
chained, conflicting, and a moved job whose request changed (a replace that says where it came from).
The same plan from the planner of compact lock files (``ops.planning``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from specrunner.core.jobs import expand
from specrunner.core.model import Moved
from specrunner.core.moves import MoveError, apply_moved, pending
from specrunner.core.plan import make_plan
from specrunner.ops.planning import plan_jobs
from specrunner.statefile.doc import StateDoc, decode_state, encode_state
from specrunner.validate.manifest import check_document
from specrunner.validate.yamlload import load
from tests.records import entry

BASE = """
version: 1
defaults: {location: oss-cn-shanghai, input_bucket: in-b, output_bucket: out-b}
inputs: [v/a.mp4, v/b.mp4]
rules:
  - {id: poster, time: 5s, width: 640, output: "p/{FileName}.jpg"}
"""


def jobs_of(text: str):
    data, marks = load(text)
    model, diags = check_document(data, marks, "m.yaml", Path("/tmp/m.yaml"))
    assert model is not None, [d.render() for d in diags]
    return model, expand(model)


def state_of(jobs) -> dict:
    return {
        j.key: entry(
            fingerprint=j.fingerprint, mode=j.mode, state="Success", job_id=f"id-{j.key}", request=j.request
        )
        for j in jobs
    }


RENAMED = BASE.replace("id: poster", "id: cover") + "moved:\n  - {from: poster, to: cover}\n"


def test_a_renamed_rule_plans_moved_changes_that_submit_nothing() -> None:
    _, old = jobs_of(BASE)
    model, new = jobs_of(RENAMED)
    state = state_of(old)
    view, origin = apply_moved(state, model.moved, {j.key for j in new}, "m.yaml")
    plan = make_plan(new, view, moved=origin)
    assert [(c.key, c.action, c.moved_from) for c in plan.changes] == [
        ("v/a.mp4::cover", "moved", "v/a.mp4::poster"),
        ("v/b.mp4::cover", "moved", "v/b.mp4::poster"),
    ]
    assert not any(c.submits for c in plan.changes) and plan.has_changes
    assert plan.counts()["moved"] == 2 and plan.counts()["create"] == 0
    assert view["v/a.mp4::cover"].job_id == "id-v/a.mp4::poster" and view["v/a.mp4::cover"].rule == "cover"
    # The state given is not changed: apply renames the records itself (journaled).
    assert set(state) == {"v/a.mp4::poster", "v/b.mp4::poster"}


def test_a_plan_without_moves_counts_no_moved_key() -> None:
    _, jobs = jobs_of(BASE)
    assert "moved" not in make_plan(jobs, state_of(jobs)).counts()


def test_an_entry_applied_already_does_nothing_and_costs_a_look_at_the_keys() -> None:
    model, new = jobs_of(RENAMED)
    state = state_of(new)  # the records are under cover already
    assert not pending(state.keys(), model.moved)
    view, origin = apply_moved(state, model.moved, {j.key for j in new}, "m.yaml")
    assert view is state and origin == {}


def test_moves_chain_in_order_and_a_job_key_moves_alone() -> None:
    _, old = jobs_of(BASE)
    _, new = jobs_of(BASE.replace("id: poster", "id: thumb"))
    chain = (Moved("poster", "cover"), Moved("cover", "thumb"))
    view, origin = apply_moved(state_of(old), chain, {j.key for j in new}, "m.yaml")
    assert origin == {"v/a.mp4::thumb": "v/a.mp4::poster", "v/b.mp4::thumb": "v/b.mp4::poster"}
    one = (Moved("v/a.mp4::poster", "v/a.mp4::thumb"),)
    view, origin = apply_moved(state_of(old), one, {j.key for j in new}, "m.yaml")
    assert origin == {"v/a.mp4::thumb": "v/a.mp4::poster"} and "v/b.mp4::poster" in view


def test_a_target_the_state_holds_already_is_refused_with_the_fix() -> None:
    model, new = jobs_of(RENAMED)
    _, old = jobs_of(BASE)
    state = {**state_of(old), **state_of(new)}
    with pytest.raises(MoveError) as e:
        apply_moved(state, model.moved, {j.key for j in new}, "m.yaml")
    assert "v/a.mp4::cover is in the state already" in str(e.value)
    assert "specrunner state rm m.yaml v/a.mp4::cover" in (e.value.hint or "")


def test_a_target_that_is_no_job_of_the_manifest_is_refused() -> None:
    _, old = jobs_of(BASE)
    _, new = jobs_of(RENAMED)
    with pytest.raises(MoveError) as e:
        apply_moved(state_of(old), (Moved("v/a.mp4::poster", "v/c.mp4::cover"),), {j.key for j in new}, "m")
    assert "the manifest has no job v/c.mp4::cover" in str(e.value)


def test_a_moved_job_whose_request_changed_is_replaced_and_says_where_it_came_from() -> None:
    _, old = jobs_of(BASE)
    model, new = jobs_of(RENAMED.replace("width: 640", "width: 320"))
    view, origin = apply_moved(state_of(old), model.moved, {j.key for j in new}, "m.yaml")
    plan = make_plan(new, view, moved=origin)
    c = plan.changes[0]
    assert (c.action, c.moved_from) == ("replace", "v/a.mp4::poster") and c.submits
    assert c.reason.startswith("moved from v/a.mp4::poster; ")


def test_the_compact_planner_plans_moves_as_the_full_one() -> None:
    _, old = jobs_of(BASE)
    model, new = jobs_of(RENAMED)
    doc = StateDoc("lineage-1", 1, state_of(old))
    compact = decode_state(encode_state(doc), Path("/tmp/m.lock.json"))
    plan = plan_jobs(new, compact, moved=model.moved, manifest="m.yaml")
    view, origin = apply_moved(state_of(old), model.moved, {j.key for j in new}, "m.yaml")
    assert plan == make_plan(new, view, moved=origin)
    assert [c.action for c in plan.changes] == ["moved", "moved"]


def test_two_entries_onto_one_key_are_refused_without_a_hint_that_would_drop_a_moved_record() -> None:
    _, old = jobs_of(BASE + '  - {id: thumb, time: 1s, width: 64, output: "t/{FileName}.jpg"}\n')
    _, new = jobs_of(RENAMED)
    entries = (Moved("poster", "cover"), Moved("v/a.mp4::thumb", "v/a.mp4::cover"))
    with pytest.raises(MoveError) as e:
        apply_moved(state_of(old), entries, {j.key for j in new}, "m.yaml")
    assert "two entries rename onto v/a.mp4::cover" in str(e.value)
    assert "state rm" not in (e.value.hint or "")
