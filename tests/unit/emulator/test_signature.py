"""Signature v1: the doc's test vector, the real SDK's signatures, and the emulator's check."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.auth.signers.sts_token_signer import StsTokenSigner
from aliyunsdkcore.client import AcsClient
from aliyunsdkmts.request.v20140618.QuerySnapshotJobListRequest import QuerySnapshotJobListRequest
from aliyunsdkmts.request.v20140618.SubmitSnapshotJobRequest import SubmitSnapshotJobRequest

from specrunner.emulator import Emulator
from specrunner.emulator.signature import canonical_query, pct, signature, string_to_sign

# The MTS signature doc (签名机制 / "Signature mechanism"): a SearchTemplate GET signed with testKeySecret.
DOC_PARAMS = {
    "AccessKeyId": "testId",
    "Action": "SearchTemplate",
    "Format": "XML",
    "PageSize": "2",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "4902260a-516a-4b6a-a455-45b653cf6150",
    "SignatureVersion": "1.0",
    "Timestamp": "2015-05-14T09:03:45Z",
    "Version": "2014-06-18",
}
DOC_CANONICAL = (
    "AccessKeyId=testId&Action=SearchTemplate&Format=XML&PageSize=2&SignatureMethod=HMAC-SHA1"
    "&SignatureNonce=4902260a-516a-4b6a-a455-45b653cf6150&SignatureVersion=1.0"
    "&Timestamp=2015-05-14T09%3A03%3A45Z&Version=2014-06-18"
)
DOC_STS = (
    "GET&%2F&AccessKeyId%3DtestId%26Action%3DSearchTemplate%26Format%3DXML%26PageSize%3D2"
    "%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D4902260a-516a-4b6a-a455-45b653cf6150"
    "%26SignatureVersion%3D1.0%26Timestamp%3D2015-05-14T09%253A03%253A45Z%26Version%3D2014-06-18"
)


def test_doc_test_vector() -> None:
    assert canonical_query(DOC_PARAMS) == DOC_CANONICAL
    assert string_to_sign("GET", DOC_PARAMS) == DOC_STS
    assert signature("GET", DOC_PARAMS, "testKeySecret") == "kmDv4mWo806GWPjQMy2z4VhBBDQ="
    # Signature itself never takes part, and parameter order does not matter.
    shuffled = list(reversed(list(DOC_PARAMS.items()))) + [("Signature", "whatever")]
    assert signature("GET", shuffled, "testKeySecret") == "kmDv4mWo806GWPjQMy2z4VhBBDQ="


def test_pct_is_rfc3986() -> None:
    assert pct("a b*c~d/e+f=g&h") == "a%20b%2Ac~d%2Fe%2Bf%3Dg%26h"
    assert pct("é{}") == "%C3%A9%7B%7D"
    assert pct("A-Z_a.z~09") == "A-Z_a.z~09"


def _client(secret: str = "secret-1", key: str = "AK1", token: str | None = None) -> AcsClient:
    c = AcsClient(key, secret, region_id="cn-shanghai", auto_retry=False, proxy={"http": None, "https": None})
    if token:
        c._signer = StsTokenSigner(StsTokenCredential(key, secret, token))
    return c


def _capture(client: AcsClient) -> list[Any]:
    seen: list[Any] = []
    client.session.hooks["response"].append(lambda r, *a, **k: seen.append(r.request))
    return seen


def _submit_request(host: str, user_data: str) -> SubmitSnapshotJobRequest:
    req = SubmitSnapshotJobRequest()
    req.set_endpoint(host)
    req.set_Input(json.dumps({"Bucket": "in-bkt", "Location": "oss-cn-shanghai", "Object": "v%2Fa b*~.mp4"}))
    req.set_SnapshotConfig(
        json.dumps(
            {
                "OutputFile": {
                    "Bucket": "out-bkt",
                    "Location": "oss-cn-shanghai",
                    "Object": "s%2F%7BCount%7D.jpg",
                },
                "Time": "0",
                "Num": "2",
            }
        )
    )
    req.set_UserData(user_data)
    return req


@pytest.mark.parametrize("token", [None, "sts-token/with+odd=chars"])
def test_our_signature_matches_the_real_sdk(tmp_path: Path, token: str | None) -> None:
    with Emulator(tmp_path, {"AK1": "secret-1"}, simulate=True) as em:
        client = _client(token=token)
        seen = _capture(client)
        host = em.url.removeprefix("http://")
        client.do_action_with_exception(
            _submit_request(host, "中文ud-sr-0123456789abcdef")
        )  # non-ASCII, allowed
        q = QuerySnapshotJobListRequest()
        q.set_endpoint(host)
        q.set_SnapshotJobIds("a,b")
        client.do_action_with_exception(q)
        assert [e["status"] for e in em.requests()] == [200, 200]
    assert len(seen) == 2
    for prepared in seen:
        params = parse_qsl(urlsplit(prepared.url).query, keep_blank_values=True)
        given = dict(params)["Signature"]
        assert signature(prepared.method, params, "secret-1") == given
        assert ("SecurityToken" in dict(params)) == bool(token)


def _send(
    url: str, method: str = "POST", data: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_emulator_accepts_a_real_request_and_refuses_a_tampered_one(tmp_path: Path) -> None:
    with Emulator(tmp_path, {"AK1": "secret-1"}, simulate=True) as em:
        client = _client()
        seen = _capture(client)
        client.do_action_with_exception(_submit_request(em.url.removeprefix("http://"), "ud-1"))
        original = seen[0]
        items = parse_qsl(urlsplit(original.url).query, keep_blank_values=True)
        tampered = [(k, "ud-2" if k == "UserData" else v) for k, v in items]
        tampered = [(k, v) for k, v in tampered if k != "SignatureNonce"] + [
            ("SignatureNonce", "fresh-nonce-1")
        ]
        status, body = _send(f"{em.url}/?{urlencode(tampered)}")
        assert status == 400 and body["Code"] == "SignatureDoesNotMatch"
        prefix = "Specified signature is not matched with our calculation. server string to sign is:"
        assert body["Message"].startswith(prefix)
        assert body["Message"][len(prefix) :] == string_to_sign("POST", tampered)
        assert set(body) == {"RequestId", "HostId", "Code", "Message"}
        assert len(em.requests()) == 2
        assert [e["job_id"] is not None for e in em.requests()] == [True, False]


def test_get_and_form_body_params_are_signed_too(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    with Emulator(tmp_path, {"AK1": "secret-1"}, simulate=True) as em:
        base = {
            "Action": "QuerySnapshotJobList",
            "Version": "2014-06-18",
            "Format": "JSON",
            "AccessKeyId": "AK1",
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureType": "",
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        q = dict(base, SignatureNonce="n-get", SnapshotJobIds="x")
        q["Signature"] = signature("GET", q, "secret-1")
        status, body = _send(f"{em.url}/?{urlencode(q)}", method="GET")
        assert status == 200 and body["NonExistSnapshotJobIds"] == {"String": ["x"]}
        # POST with the ids in a form body: the body params are part of what is signed.
        url_params = dict(base, SignatureNonce="n-form")
        body_params = {"SnapshotJobIds": "y"}
        url_params["Signature"] = signature("POST", {**url_params, **body_params}, "secret-1")
        status, body = _send(
            f"{em.url}/?{urlencode(url_params)}",
            data=urlencode(body_params).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert status == 200 and body["NonExistSnapshotJobIds"] == {"String": ["y"]}
