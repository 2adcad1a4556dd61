"""plain_request: the recorded form of a request, decoded once per shared sub-object."""

from __future__ import annotations

from specrunner.core.attrdiff import plain_keys, plain_request


def test_plain_request_is_plain_keys_and_shares_what_the_requests_share() -> None:
    config = {"OutputFile": {"Bucket": "out", "Object": "r%2F%7BCount%7D.jpg"}, "Num": "2"}
    a = {"Input": {"Bucket": "in", "Object": "a%20b.mp4"}, "SnapshotConfig": config, "PipelineId": "p"}
    b = {"Input": {"Bucket": "in", "Object": "100%25.mp4"}, "SnapshotConfig": config}
    pa, pb = plain_request(a), plain_request(b)
    assert pa == plain_keys(a) and pb == plain_keys(b)
    assert pa["Input"]["Object"] == "a b.mp4" and pb["Input"]["Object"] == "100%25.mp4"  # `%` stays encoded
    assert pa["SnapshotConfig"]["OutputFile"]["Object"] == "r/{Count}.jpg"
    assert pa["SnapshotConfig"] is pb["SnapshotConfig"]  # one decoded copy per shared SnapshotConfig
    other = {**config, "Num": "3"}  # an equal-looking but different object gets its own copy
    assert plain_request({**b, "SnapshotConfig": other})["SnapshotConfig"]["Num"] == "3"
