"""A renamed rule's jobs read as one group in every format (text, markdown, the JSON groups), whether
they only move or also change: a rule of 50 inputs renamed with a width change must not print 50
blocks, and a moved job that is replaced still says it moved."""

from __future__ import annotations

from pathlib import Path

from specrunner.core.jobs import expand
from specrunner.core.moves import apply_moved
from specrunner.core.plan import make_plan
from specrunner.render.groups import plan_groups
from specrunner.render.markdown import plan_markdown
from specrunner.render.text import plan_text
from specrunner.validate.manifest import check_document
from specrunner.validate.yamlload import load
from tests.records import entry

INPUTS = ", ".join(f"v/clip{i:02}.mp4" for i in range(1, 51))
BASE = f"""
version: 1
defaults: {{location: oss-cn-shanghai, input_bucket: in-b, output_bucket: out-b}}
inputs: [{INPUTS}]
rules:
  - {{id: poster, time: 5s, width: 640, output: "p/{{FileName}}.jpg"}}
"""
RENAMED = BASE.replace("id: poster", "id: cover") + "moved:\n  - {from: poster, to: cover}\n"


def planned(old_text: str, new_text: str):
    def jobs(text: str):
        data, marks = load(text)
        model, diags = check_document(data, marks, "m.yaml", Path("/tmp/m.yaml"))
        assert model is not None, [d.render() for d in diags]
        return model, expand(model)

    _, old = jobs(old_text)
    model, new = jobs(new_text)
    state = {
        j.key: entry(
            fingerprint=j.fingerprint, mode=j.mode, state="Success", job_id=f"id{i}", request=j.request
        )
        for i, j in enumerate(old)
    }
    view, origin = apply_moved(state, model.moved, {j.key for j in new}, "m.yaml")
    return make_plan(new, view, moved=origin)


def test_a_renamed_rule_of_fifty_inputs_is_one_group_in_text_markdown_and_json() -> None:
    plan = planned(BASE, RENAMED)
    text = plan_text(plan, manifest="m.yaml")
    assert len(text.splitlines()) < 15, text
    assert "cover: 50 jobs" in text and "moved from rule poster" in text
    assert max(len(line) for line in text.splitlines()[1:]) <= 80
    [g] = plan_groups(plan)
    assert (g.action, g.rule, len(g.keys)) == ("moved", "cover", 50)
    assert "moved from rule poster" in g.reason
    md = plan_markdown(plan, "m.yaml", json_hint="x")
    assert md.count("v/clip") <= 6 and "**cover**: 50 jobs" in md
    # Each change still names its own old key (JSON changes, state rewrite).
    assert plan.changes[0].moved_from == "v/clip01.mp4::poster"


def test_a_renamed_rule_whose_width_changed_is_one_group_that_says_it_moved() -> None:
    plan = planned(BASE, RENAMED.replace("width: 640", "width: 320"))
    assert {c.action for c in plan.changes} == {"replace"}
    text = plan_text(plan, manifest="m.yaml")
    assert len(text.splitlines()) < 15, text
    assert "cover: 50 jobs  sync   moved from rule poster; changed: width" in text
    assert "width: 640 -> 320" in text
    md = plan_markdown(plan, "m.yaml", json_hint="x")
    assert "moved from rule poster<br>changed:<br>`width: 640 -> 320`" in md
    # Listed one by one (below the group size, or -v), a moved and replaced job says where it came from.
    few = planned(BASE.replace(INPUTS, "v/a.mp4"), RENAMED.replace(INPUTS, "v/a.mp4").replace("640", "320"))
    line = plan_text(few, manifest="m.yaml").splitlines()[3]
    assert "v/a.mp4::cover" in line and "moved from v/a.mp4::poster; changed: width" in line
    assert "moved from v/a.mp4::poster<br>changed:" in plan_markdown(few, "m.yaml", json_hint="x")
