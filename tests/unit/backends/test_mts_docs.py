"""The conformance corpus (``tests/fixtures/mts-docs``): every documented sample answer is read by the
backend's own answer code, and every documented error code gets its class, as a failed job's Code
and as an error answer (through the backend's error map)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aliyunsdkcore.acs_exception.exceptions import ServerException

from specrunner.backends.credentials import Credential
from specrunner.backends.endpoints import Endpoint
from specrunner.backends.mtsanswers import answer_body, listed_jobs, missing_ids, submitted_job
from specrunner.backends.mtserrors import MtsErrors
from specrunner.core import codes
from specrunner.core.errors import PermanentBackendError, TransientBackendError

DOCS = Path(__file__).resolve().parents[2] / "fixtures" / "mts-docs"
ANSWERS = sorted(p.name for p in DOCS.glob("*.json") if p.name != "codes.json")
CODES: list[dict[str, Any]] = json.loads((DOCS / "codes.json").read_text())["codes"]

# What each documented answer holds: (ids found, their states, their codes, ids reported missing)
EXPECTED = {
    "submit-2014-en.json": (["88c6ca184c0e47098a5b665e2a126797"], ["Success"], [""], []),
    "query-2014-en.json": (["88c6ca184c0e47098a5b665e2a126797"], ["Success"], [""], []),
    "submit-2021-cn.json": (
        ["f4e3b9ba9f3840c39d6e288056f0****"],
        ["Snapshoting"],
        ["ResourceContentBad"],
        [],
    ),
    "query-2021-cn.json": (
        ["cc6cbef8e8d5481ca536f5d2a466****"],
        ["Snapshoting"],
        ["InvalidParameter.ResourceConten****"],
        ["cc6cbef8e8d5481ca536f5d2a466****"],
    ),
    "query-sdk-models.json": (
        ["cc6cbef8e8d5481ca536f5d2a466****"],
        ["Snapshoting"],
        ["InvalidParameter.ResourceConten****"],
        ["cc6cbef8e8d5481ca536f5d2a466****"],
    ),
}


def same(text: str) -> str:
    return text


def test_the_corpus_holds_every_documented_answer_and_code() -> None:
    assert set(ANSWERS) == set(EXPECTED)
    listed = {c["code"] for c in CODES}
    assert len(listed) == len(CODES)  # one entry per code
    assert set(codes.documented_codes()) <= listed  # every code the table knows is in the corpus


@pytest.mark.parametrize("name", ANSWERS)
def test_every_documented_answer_is_read(name: str) -> None:
    raw = (DOCS / name).read_bytes()
    body = answer_body(raw, submit=name.startswith("submit"), where="MTS")
    if name.startswith("submit"):
        jobs, missing = [submitted_job(body, same, "MTS")], []
    else:
        jobs, missing = listed_jobs(body, same), missing_ids(body)
    assert ([j.id for j in jobs], [j.state for j in jobs], [j.code for j in jobs], missing) == EXPECTED[name]
    for job in jobs:  # the codes a sample carries are documented ones: never an unknown, retried code
        assert not job.code or codes.classify(job.code) == codes.PERMANENT


@pytest.mark.parametrize(
    "body",
    [
        {"RequestId": "r"},
        {"RequestId": "r", "SnapshotJobList": "jobs"},
        {"RequestId": "r", "SnapshotJobList": {"Job": []}},
        {"RequestId": "r", "SnapshotJobList": ["not a job"]},
    ],
    ids=["no-list", "a-string", "unknown-wrapper", "not-objects"],
)
def test_an_answer_in_no_documented_shape_is_retried_never_empty(body: dict[str, Any]) -> None:
    with pytest.raises(TransientBackendError) as caught:
        listed_jobs(body, same)
    assert caught.value.code == "BadAnswer"


def test_missing_ids_in_no_documented_shape_are_retried() -> None:
    with pytest.raises(TransientBackendError):
        missing_ids({"NonExistSnapshotJobIds": {"String": {"a": 1}}})
    assert missing_ids({"SnapshotJobList": []}) == []


@pytest.mark.parametrize("entry", CODES, ids=[c["code"] for c in CODES])
def test_every_documented_code_is_classified(entry: dict[str, Any]) -> None:
    code = entry["code"]
    assert codes.classify(code) == entry["job"], entry["source"]
    assert codes.resubmit_failed(code) == (entry["job"] != codes.PERMANENT)
    if "api" not in entry:
        return
    assert codes.classify(code, entry["status"]) == entry["api"]
    errors = MtsErrors(
        Endpoint("http", "127.0.0.1:1", "127.0.0.1"),
        Credential("LTAIcorpus0001", "corpus-secret", None, "test", "the id", "the secret"),
    )
    message = "Specified signature is not matched with our calculation. server string to sign is:x"
    error = errors.server(ServerException(code, message, entry["status"], "RID"), submit=False)
    expected = PermanentBackendError if entry["api"] == codes.PERMANENT else TransientBackendError
    assert isinstance(error, expected), (code, error)
    assert error.code == code and "\n" not in str(error)
