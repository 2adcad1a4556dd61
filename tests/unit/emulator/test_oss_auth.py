"""OSS signature V1 in the emulator: the string to sign is oss2's for object calls too, a correctly
signed request passes, and each refusal has OSS's documented code and status (AccessDenied,
InvalidArgument, RequestTimeTooSkewed, InvalidAccessKeyId, SignatureDoesNotMatch: 403 but for the
malformed header, 400). Directly on ``oss_auth.authenticate`` and over HTTP with the real oss2."""

from __future__ import annotations

import email.utils
import time
from pathlib import Path

import oss2
import pytest

from specrunner.emulator.oss_auth import authenticate, sign, string_to_sign
from specrunner.emulator.oss_protocol import OssError
from specrunner.emulator.server import Emulator
from tests.unit.emulator.conftest import AK, BUCKET, SECRET, bucket

KEYS = {AK: SECRET}


def signed(
    method: str = "PUT",
    key: str = "ci/lock.json",
    *,
    params: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    secret: str = SECRET,
    key_id: str = AK,
    when: float | None = None,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(params, headers) of a request signed as oss2 signs it."""
    params = params or []
    sent = {"Date": email.utils.formatdate(when or time.time(), usegmt=True), **(headers or {})}
    sts = string_to_sign(method, list(sent.items()), BUCKET, key, params)
    sent["Authorization"] = f"OSS {key_id}:{sign(sts, secret)}"
    return params, list(sent.items())


def refusal(method: str, key: str, params: list[tuple[str, str]], headers: list[tuple[str, str]]) -> OssError:
    with pytest.raises(OssError) as err:
        authenticate(method, BUCKET, key, params, headers, KEYS)
    return err.value


# ------------------------------------------------------------------------------------ the string to sign


@pytest.mark.parametrize(
    "method,key,params,headers",
    [
        ("PUT", "ci/lock.json", {}, {"x-oss-forbid-overwrite": "true", "Content-Type": "application/json"}),
        ("POST", "ci/journal", {"append": "", "position": "42"}, {"Content-MD5": "abc=="}),
        ("HEAD", "ci/lock.json", {"objectMeta": ""}, {}),
        (
            "GET",
            "a b/é+%.json",
            {"response-content-type": "text/plain", "not-signed": "x"},
            {"Range": "bytes=1-"},
        ),
        ("DELETE", "ci/lock.json", {}, {"X-OSS-Meta-Z": "1", "x-oss-meta-a": "two"}),
    ],
    ids=["put-forbid", "append", "object-meta", "get-response-param", "delete-meta-headers"],
)
def test_the_string_to_sign_is_oss2s_for_object_calls(
    method: str, key: str, params: dict[str, str], headers: dict[str, str]
) -> None:
    for auth in (oss2.Auth("AKID", "sk"), oss2.StsAuth("AKID", "sk", "CAIS-token")):
        req = oss2.http.Request(method, f"http://127.0.0.1/{BUCKET}/{key}", params=params, headers=headers)
        auth._sign_request(req, BUCKET, key)
        given = req.headers["authorization"].rsplit(":", 1)[1]
        sent = [(k, v) for k, v in req.headers.items() if v is not None]
        sts = string_to_sign(method, sent, BUCKET, key, list(params.items()))
        assert sign(sts, "sk") == given
        assert sign(sts, "other") != given


def test_the_date_is_x_oss_date_when_sent() -> None:
    late = email.utils.formatdate(time.time(), usegmt=True)
    sts = string_to_sign("GET", [("Date", "ignored"), ("x-oss-date", late)], BUCKET, "k", [])
    assert sts.split("\n")[3] == late
    assert string_to_sign("GET", [], "", "", []) == "GET\n\n\n\n/"  # no bucket: the resource is "/"


# ------------------------------------------------------------------------------------ authenticate


def test_a_correctly_signed_request_passes() -> None:
    authenticate("PUT", BUCKET, "ci/lock.json", *signed(), KEYS)
    params, headers = signed("POST", "j", params=[("append", ""), ("position", "0")])
    authenticate("POST", BUCKET, "j", params, headers, KEYS)
    token = signed("GET", "k", headers={"x-oss-security-token": "CAIS-token"})
    authenticate("GET", BUCKET, "k", *token, KEYS)  # STS: the token is signed too
    authenticate("PUT", BUCKET, "ci/lock.json", *signed(when=time.time() - 14 * 60), KEYS)


def test_a_wrong_secret_is_signature_does_not_match() -> None:
    params, headers = signed(secret="not-the-secret")
    e = refusal("PUT", "ci/lock.json", params, headers)
    assert (e.status, e.code, e.extra["OSSAccessKeyId"]) == (403, "SignatureDoesNotMatch", AK)
    expected = string_to_sign("PUT", headers, BUCKET, "ci/lock.json", params)
    assert e.extra["StringToSign"] == expected
    assert e.extra["StringToSignBytes"] == " ".join(f"{b:02x}" for b in expected.encode())
    assert e.extra["SignatureProvided"] == dict(headers)["Authorization"].rsplit(":", 1)[1]


def test_a_request_signed_for_something_else_is_refused() -> None:
    params, headers = signed("PUT", "ci/lock.json")
    assert refusal("PUT", "ci/other.json", params, headers).code == "SignatureDoesNotMatch"  # another key
    assert refusal("DELETE", "ci/lock.json", params, headers).code == "SignatureDoesNotMatch"  # another verb
    tampered = [*headers, ("x-oss-forbid-overwrite", "false")]  # an unsigned x-oss-* header
    assert refusal("PUT", "ci/lock.json", params, tampered).code == "SignatureDoesNotMatch"


def test_an_unknown_key_id_is_invalid_access_key_id() -> None:
    e = refusal("PUT", "ci/lock.json", *signed(key_id="nobody"))
    assert (e.status, e.code, e.extra) == (403, "InvalidAccessKeyId", {"OSSAccessKeyId": "nobody"})


def test_no_or_a_malformed_authorization_header() -> None:
    date = [("Date", email.utils.formatdate(usegmt=True))]
    e = refusal("GET", "k", [], date)
    assert (e.status, e.code) == (403, "AccessDenied")
    for header in ("OSS4-HMAC-SHA256 Credential=x", f"OSS {AK}", "OSS :sig", f"OSS {AK}:", "Bearer x"):
        e = refusal("GET", "k", [], [*date, ("Authorization", header)])
        assert (e.status, e.code, e.extra["ArgumentName"]) == (400, "InvalidArgument", "Authorization"), (
            header
        )


def test_the_request_time() -> None:
    params, headers = signed()
    no_date = [(k, v) for k, v in headers if k != "Date"]
    e = refusal("PUT", "ci/lock.json", params, no_date)
    assert (e.status, e.code) == (403, "AccessDenied")
    garbage = [("Date", "yesterday"), *no_date]
    assert refusal("PUT", "ci/lock.json", params, garbage).code == "AccessDenied"
    e = refusal("PUT", "ci/lock.json", *signed(when=time.time() - 16 * 60))
    assert (e.status, e.code) == (403, "RequestTimeTooSkewed")
    assert set(e.extra) == {"RequestTime", "ServerTime"}
    assert refusal("PUT", "ci/lock.json", *signed(when=time.time() + 16 * 60)).code == "RequestTimeTooSkewed"


# ------------------------------------------------------------------------------------ over HTTP, with oss2


def test_oss2_with_the_right_key_passes_and_the_wrong_ones_are_refused(emu: Emulator, root: Path) -> None:
    assert bucket(emu).put_object("ok", b"x").status == 200
    assert bucket(emu, auth=oss2.StsAuth(AK, SECRET, "CAIS-token")).get_object("ok").read() == b"x"
    for auth, status, code in (
        (oss2.Auth(AK, "wrong-secret"), 403, "SignatureDoesNotMatch"),
        (oss2.Auth("unknown-key", SECRET), 403, "InvalidAccessKeyId"),
        (oss2.AnonymousAuth(), 403, "AccessDenied"),
    ):
        with pytest.raises(oss2.exceptions.ServerError) as err:
            bucket(emu, auth=auth).put_object("refused", b"x")
        assert (err.value.status, err.value.code) == (status, code)
    v4 = oss2.ProviderAuthV4(oss2.credentials.StaticCredentialsProvider(AK, SECRET))
    with pytest.raises(oss2.exceptions.ServerError) as err:
        oss2.Bucket(v4, emu.url, BUCKET, region="cn-hangzhou").put_object("refused", b"x")
    assert (err.value.status, err.value.code) == (400, "InvalidArgument")  # the emulator verifies V1 only
    assert not (root / BUCKET / "refused").exists()
    codes = [e["code"] for e in emu.requests()]
    assert codes == ["", "", "SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied", "InvalidArgument"]
