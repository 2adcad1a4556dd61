"""Bare and prefixed forms of the MTS error code list's codes get the same class (the 2021 sample
answers write a job's code without its prefix: ``ResourceContentBad``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from specrunner.core import codes

CODES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "mts-docs" / "codes.json").read_text()
)["codes"]
# The MTS pages' own prefixed codes (Submit page and error code list), not the gateway's.
MTS_PREFIXED = sorted(
    code
    for code, (_, where) in codes.TABLE.items()
    if "." in code and where.startswith(("Submit page", "error code list"))
)


@pytest.mark.parametrize("code", MTS_PREFIXED)
def test_the_bare_form_of_an_mts_code_is_classified_as_the_code(code: str) -> None:
    bare = code.rpartition(".")[2]
    assert codes.classify(bare) == codes.classify(code)
    assert codes.resubmit_failed(bare) == codes.resubmit_failed(code)
    assert codes.bare_code(code) == bare
    assert bare in {c["code"] for c in CODES}  # and the corpus holds it


def test_the_account_code_is_among_them() -> None:
    assert "InvalidIdentity.ServiceDisabled" in MTS_PREFIXED
