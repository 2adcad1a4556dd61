"""Shared by the emulator's OSS tests: a root with one bucket, a running emulator, and two clients --
the real oss2 (``bucket``) and raw HTTP signed with OSS signature V1 (``raw``), for what oss2 would
not send. Test modules import the helpers as ``from tests.unit.emulator.conftest import ...``."""

from __future__ import annotations

import email.utils
import http.client
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import oss2
import pytest

from specrunner.emulator.oss_auth import sign, string_to_sign
from specrunner.emulator.server import Emulator

AK, SECRET = "objAK", "obj-secret"
BUCKET = "team-state"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "oss" / BUCKET).mkdir(parents=True)
    return tmp_path / "oss"


@pytest.fixture
def emu(root: Path) -> Iterator[Emulator]:
    with Emulator(root, {AK: SECRET}) as e:  # the real engine: it keeps its jobs under <root>/.mts
        yield e


def bucket(e: Emulator, name: str = BUCKET, auth: oss2.Auth | None = None) -> oss2.Bucket:
    return oss2.Bucket(auth or oss2.Auth(AK, SECRET), e.url, name)


def raw(
    e: Emulator,
    method: str,
    bucket_name: str,
    key: str,
    *,
    query: dict[str, str] | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, str, bytes]:
    """A request signed with OSS signature V1 over the decoded bucket and key (as the emulator checks
    it), sent with the path exactly as given percent-encoded: (status, error code, body)."""
    status, data, _ = raw_answer(e, method, bucket_name, key, query=query, body=body, headers=headers)
    code = ""
    if status >= 300 and data:
        code = ET.fromstring(data).findtext("Code") or ""
    return status, code, data


def raw_answer(
    e: Emulator,
    method: str,
    bucket_name: str,
    key: str,
    *,
    query: dict[str, str] | None = None,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    secret: str = SECRET,
) -> tuple[int, bytes, dict[str, str]]:
    """As :func:`raw`, signed with ``secret``: (status, body, answer headers)."""
    params = list((query or {}).items())
    sent = {"Date": email.utils.formatdate(usegmt=True), "Content-Type": "", **(headers or {})}
    sts = string_to_sign(method, list(sent.items()), bucket_name, key, params)
    sent["Authorization"] = f"OSS {AK}:{sign(sts, secret)}"
    path = "/" + quote(bucket_name, safe="") + "/" + quote(key, safe="/")
    if params:
        path += "?" + "&".join(f"{k}={quote(v, safe='')}" if v else k for k, v in params)
    conn = http.client.HTTPConnection(e.host, e.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=sent)
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    return resp.status, data, dict(resp.getheaders())
