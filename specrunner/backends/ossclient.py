"""The one place that builds ``oss2`` clients, for input discovery and for the remote state.

Endpoint: ``SPECRUNNER_OSS_ENDPOINT`` (e.g. ``http://127.0.0.1:8765``) if set, else
``https://{location}.aliyuncs.com`` for a location such as ``oss-cn-shanghai``. The emulator
(``specrunner emulator``) serves OSS and MTS on the same port, so SPECRUNNER_OSS_ENDPOINT can be the
same URL as SPECRUNNER_MTS_ENDPOINT. oss2 addresses IP and localhost endpoints path-style
(``/<bucket>/<key>``), others virtual-host style.

Credentials: the same chain as the MTS backend (``credentials.resolve_credentials``): an STS token
signs with ``oss2.StsAuth``, else ``oss2.Auth`` (both signature V1, which the emulator verifies).

Timeouts: 5 s to connect, 30 s to read, per request. CRC checks are off (the emulator sends none).

Proxies: oss2's session is a plain requests session, which follows HTTP(S)_PROXY and NO_PROXY from
the environment (unlike the MTS SDK's, see ``endpoints``). A loopback endpoint never goes through a
proxy: its session ignores the environment entirely.

The SDK's loggers are silenced: its debug output has the request headers, the STS token among them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import oss2

from specrunner.backends.credentials import Credential
from specrunner.backends.endpoints import Endpoint, parse_endpoint
from specrunner.core.errors import PermanentBackendError

ENDPOINT_ENV = "SPECRUNNER_OSS_ENDPOINT"
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30

_LOCATION_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def silence_sdk_logs() -> None:
    """oss2 logs request headers (the STS token among them) at DEBUG and errors at INFO: never."""
    for name in ["oss2"] + [n for n in logging.root.manager.loggerDict if n.startswith("oss2.")]:
        lg = logging.getLogger(name)
        lg.setLevel(logging.CRITICAL + 1)
        lg.propagate = False


silence_sdk_logs()


def endpoint_configured(env: Mapping[str, str] | None = None) -> bool:
    """SPECRUNNER_OSS_ENDPOINT is set: no location is needed to reach OSS."""
    env = os.environ if env is None else env
    return bool((env.get(ENDPOINT_ENV) or "").strip())


def endpoint_for(location: str, env: Mapping[str, str] | None = None) -> Endpoint:
    """The OSS endpoint for a bucket in ``location`` (``SPECRUNNER_OSS_ENDPOINT`` wins)."""
    env = os.environ if env is None else env
    override = (env.get(ENDPOINT_ENV) or "").strip()
    if override:
        return parse_endpoint(override, ENDPOINT_ENV, service="OSS")
    if not isinstance(location, str) or not _LOCATION_RE.fullmatch(location):
        raise PermanentBackendError(
            f"invalid OSS location {location!r}: use a region such as oss-cn-shanghai "
            f"(or set {ENDPOINT_ENV})",
            code="InvalidLocation",
        )
    return Endpoint("https", f"{location}.aliyuncs.com", f"{location}.aliyuncs.com")


def auth_for(credential: Credential) -> Any:
    """Signature V1: ``StsAuth`` with an STS token, else ``Auth``."""
    if credential.security_token:
        return oss2.StsAuth(credential.access_key_id, credential.access_key_secret, credential.security_token)
    return oss2.Auth(credential.access_key_id, credential.access_key_secret)


class OssClients:
    """``oss2.Bucket`` clients for one credential: one session per proxy rule (loopback or not), one
    client per (bucket, endpoint). ``auth`` may be replaced before the first client is built."""

    def __init__(
        self,
        credential: Credential,
        *,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        silence_sdk_logs()  # again: SDK modules imported since may have added loggers
        self.credential = credential
        self.auth: Any = auth_for(credential)
        self.timeout = (connect_timeout, read_timeout)
        self._sessions: dict[bool, oss2.Session] = {}
        self._buckets: dict[tuple[str, str], oss2.Bucket] = {}

    def session(self, ep: Endpoint) -> oss2.Session:
        s = self._sessions.get(ep.loopback)
        if s is None:
            s = oss2.Session()
            if ep.loopback:
                # HTTP(S)_PROXY must not capture a local emulator: ignore the environment entirely.
                s.session.trust_env = False
            self._sessions[ep.loopback] = s
        return s

    def bucket(self, name: str, ep: Endpoint) -> oss2.Bucket:
        """The client of bucket ``name`` at ``ep``; PermanentBackendError (InvalidBucketName) when
        oss2 refuses the name."""
        key = (name, ep.url)
        client = self._buckets.get(key)
        if client is None:
            try:
                client = oss2.Bucket(
                    self.auth,
                    ep.url,
                    name,
                    session=self.session(ep),
                    connect_timeout=self.timeout,
                    enable_crc=False,
                )
            except oss2.exceptions.ClientError:
                raise PermanentBackendError(
                    f"{name!r} is not a valid OSS bucket name", code="InvalidBucketName"
                ) from None
            self._buckets[key] = client
        return client

    def close(self) -> None:
        for s in self._sessions.values():
            try:
                s.session.close()
            except Exception:  # pragma: no cover
                pass
