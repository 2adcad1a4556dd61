"""The error-code table: every documented code has a class, and the rules for unknown codes hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from specrunner.core.codes import TABLE, classify, documented, resubmit_failed, retry_in_run

# The snapshot codes of the SubmitSnapshotJob page, as listed there.
SNAPSHOT_CODES = {
    "InvalidParameter.ResourceNotFound": "permanent",
    "SnapshotTimeOut": "permanent",
    "InvalidParameter.ResourceContentBad": "permanent",
    "EntityNotExist.Role": "permanent",
    "PermissionDenied.ResourceAccess": "permanent",
    "TransientNetWorkError": "transient",
}


@pytest.mark.parametrize("code,kind", sorted(SNAPSHOT_CODES.items()))
def test_snapshot_codes(code: str, kind: str) -> None:
    assert classify(code) == kind
    assert documented(code)


def test_snapshot_timeout_is_not_retried_even_as_a_5xx() -> None:
    # The FAQ: a sync snapshot times out after ~6 s and retrying is not recommended.
    for status in (None, 500, 503, 504):
        assert classify("SnapshotTimeOut", status) == "permanent"
        assert not retry_in_run("SnapshotTimeOut", status)


def test_server_side_errors() -> None:
    assert classify("InternalError", 500) == "uncertain"
    assert classify("ServiceUnavailable", 503) == "uncertain"
    assert classify("InternalError") == "transient"  # a failed job's own code: resubmit
    assert resubmit_failed("InternalError") and resubmit_failed("TransientNetWorkError")
    assert not resubmit_failed("InvalidParameter.ResourceContentBad")


def test_throttling_and_nonce() -> None:
    for code in ("Throttling", "Throttling.User", "Throttling.Api", "Throttling.Whatever"):
        assert classify(code, 400) == "transient"
    assert classify("SignatureNonceUsed", 400) == "transient"
    assert classify("SomethingNew", 429) == "transient"


def test_unknown_codes() -> None:
    assert classify("InvalidParameter.SomethingNew", 400) == "permanent"
    assert classify("InvalidParameter.SomethingNew") == "permanent"
    assert classify("SomethingNew", 400) == "permanent"
    assert classify("SomethingNew", 502) == "uncertain"
    assert classify("SomethingNew") == "uncertain"
    assert classify("") == "uncertain"
    assert documented("SomethingNew") is None


def test_every_code_of_the_reference_notes_is_in_the_table() -> None:
    notes = Path("/work/shared/mts-api.md")
    if not notes.is_file():
        pytest.skip("reference notes not on this machine")
    text = notes.read_text(encoding="utf-8")
    section = text[text.index("## 4. Error codes") : text.index("## 5. Wire protocol")]
    codes = set(re.findall(r"^\| ([A-Z][A-Za-z]+(?:\.[A-Z][A-Za-z]+)?) ", section, re.MULTILINE))
    codes -= {"Code"}
    assert codes and codes <= set(TABLE), codes - set(TABLE)


def test_a_bare_suffix_of_a_documented_job_code_is_that_code() -> None:
    """The 2021 SubmitSnapshotJob sample answer says "ResourceContentBad": the same permanent code as
    InvalidParameter.ResourceContentBad, so a failed job is not resubmitted unchanged on every apply."""
    for bare, full in (
        ("ResourceContentBad", "InvalidParameter.ResourceContentBad"),
        ("ResourceNotFound", "InvalidParameter.ResourceNotFound"),
        ("ResourceAccess", "PermissionDenied.ResourceAccess"),
    ):
        assert classify(bare) == classify(full) == "permanent"
        assert full in (documented(bare) or "")
    assert classify("NotFound") == "uncertain"  # only a job's documented codes, nothing looser
