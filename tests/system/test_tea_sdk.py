"""The newer SDK generation, alibabacloud-mts20140618 (Tea/OpenAPI), against the emulator: it signs with
ACS3-HMAC-SHA256 in headers by default. Submit, query by ids and listing mode work unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("alibabacloud_mts20140618")

from alibabacloud_mts20140618 import models
from alibabacloud_mts20140618.client import Client
from alibabacloud_tea_openapi import utils_models as open_api_models

from specrunner.emulator import Emulator

KEY, SECRET = "LTAIteasdk0001", "tea-secret-0001"
INPUT = json.dumps({"Bucket": "media-in", "Location": "oss-cn-shanghai", "Object": "v%2Fa.mp4"})
CONFIG = json.dumps(
    {
        "OutputFile": {"Bucket": "media-out", "Location": "oss-cn-shanghai", "Object": "s%2F%7BCount%7D.jpg"},
        "Time": "0",
        "Interval": "1",
        "Num": "3",
        "FrameType": "intra",
    }
)


@pytest.fixture
def em(tmp_path: Path) -> Iterator[Emulator]:
    (tmp_path / "media-in" / "v").mkdir(parents=True)
    (tmp_path / "media-in" / "v" / "a.mp4").write_bytes(b"not decoded in simulate mode")
    with Emulator(tmp_path, {KEY: SECRET}, simulate=True, region="cn-shanghai") as e:
        yield e


def client(em: Emulator, secret: str = SECRET) -> Client:
    return Client(
        open_api_models.Config(
            access_key_id=KEY,
            access_key_secret=secret,
            region_id="cn-shanghai",
            endpoint=f"127.0.0.1:{em.port}",
            protocol="http",
        )
    )


def test_submit_query_and_list_with_the_tea_sdk(em: Emulator) -> None:
    c = client(em)
    since = datetime.now(UTC) - timedelta(minutes=1)
    sub = c.submit_snapshot_job(
        models.SubmitSnapshotJobRequest(
            input=INPUT, snapshot_config=CONFIG, user_data="tea-sr-0123456789abcdef"
        )
    )
    job = sub.body.snapshot_job
    assert sub.status_code == 200 and len(job.id) == 32 and job.user_data == "tea-sr-0123456789abcdef"
    assert job.snapshot_config.output_file.object == "s%2F%7BCount%7D.jpg"

    q = c.query_snapshot_job_list(models.QuerySnapshotJobListRequest(snapshot_job_ids=f"{job.id},{'0' * 32}"))
    (found,) = q.body.snapshot_job_list.snapshot_job
    assert (found.id, found.state, found.count) == (job.id, "Success", "3")
    assert q.body.non_exist_snapshot_job_ids.string == ["0" * 32]

    listing = c.query_snapshot_job_list(
        models.QuerySnapshotJobListRequest(
            start_of_job_created_time_range=since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            end_of_job_created_time_range=(datetime.now(UTC) + timedelta(minutes=1)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            maximum_page_size=10,
        )
    )
    assert [j.id for j in listing.body.snapshot_job_list.snapshot_job] == [job.id]
    print("submit:", json.dumps(sub.body.to_map(), sort_keys=True))
    print("query:", json.dumps(q.body.to_map(), sort_keys=True))
    print("list:", json.dumps(listing.body.to_map(), sort_keys=True))

    signed = [e for e in em.requests() if e.get("signature") == "ACS3-HMAC-SHA256"]
    assert [e["action"] for e in signed] == [
        "SubmitSnapshotJob",
        "QuerySnapshotJobList",
        "QuerySnapshotJobList",
    ]
    assert all(e["status"] == 200 for e in signed)
    journal = json.dumps(em.requests())
    assert KEY not in journal and SECRET not in journal and "Signature=" not in journal


def test_a_wrong_secret_or_a_forbidden_request_is_refused(em: Emulator) -> None:
    from Tea.exceptions import TeaException

    with pytest.raises(TeaException) as ei:
        client(em, secret="wrong").submit_snapshot_job(
            models.SubmitSnapshotJobRequest(input=INPUT, snapshot_config=CONFIG)
        )
    assert ei.value.code == "SignatureDoesNotMatch"
    with pytest.raises(TeaException) as ei2:
        client(em).submit_snapshot_job(
            models.SubmitSnapshotJobRequest(
                input=INPUT, snapshot_config=CONFIG, user_data="no spaces allowed"
            )
        )
    assert ei2.value.code == "InvalidParameter" and "UserData" in str(ei2.value.message)
    assert not any(e.get("job_id") for e in em.requests())
