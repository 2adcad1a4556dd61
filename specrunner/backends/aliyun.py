"""The Alibaba Cloud MTS backend: SubmitSnapshotJob / QuerySnapshotJobList through the V1 Python SDK.

The only module that imports ``aliyunsdkcore`` / ``aliyunsdkmts``. Everything the SDK raises is
translated here into the project's errors (``specrunner.core.errors``):

The class of a service error code comes from one table, ``specrunner.core.codes`` (documented codes,
with the rule for unknown ones):

- TransientBackendError: throttling, InternalError, UnknownError, ServiceUnavailable, any 5xx whose
  code is not known to be permanent (SnapshotTimeOut is), TransientNetWorkError,
  SignatureNonceUsed, transport errors of queries (code NoAnswer), and transport errors that provably
  happened before the request left (connection refused, name resolution, connect timeout: code
  EndpointUnreachable, safe to resend even for a Submit);
- UncertainSubmitError: a Submit that may have created the job without us hearing about it (read
  timeout, connection reset / closed without an answer, a 5xx, a 200 without a job);
- PermanentBackendError (CredentialsError for bad credentials): everything else, with a message that
  says what to fix. Messages never carry the secret or the STS token.

Retries and rate limits live in the executor, not here: the client never retries (``auto_retry=False``).

Credentials, never from the manifest or the state: ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET (+
ALIBABA_CLOUD_SECURITY_TOKEN for STS), then ALIYUN_ACCESS_KEY_ID / _SECRET, then the aliyun CLI
profile (``~/.aliyun/config.json``; ALIBABA_CLOUD_PROFILE or the file's ``current``; modes AK, StsToken).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import os
import re
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.auth.signers.sts_token_signer import StsTokenSigner
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.http import protocol_type
from aliyunsdkmts.request.v20140618.QuerySnapshotJobListRequest import QuerySnapshotJobListRequest
from aliyunsdkmts.request.v20140618.SubmitSnapshotJobRequest import SubmitSnapshotJobRequest

from specrunner import __version__
from specrunner.backends.base import MAX_QUERY_IDS, NOT_FOUND_GRACE, RemoteJob
from specrunner.backends.transport import KeepAliveTransport, keep_alive_allowed, memoize_sdk_quoting
from specrunner.core.codes import classify
from specrunner.core.errors import (
    BackendError,
    CredentialsError,
    LeaseLost,
    PermanentBackendError,
    TransientBackendError,
    UncertainSubmitError,
)
from specrunner.core.secrets import redact

ENDPOINT_ENV = "SPECRUNNER_MTS_ENDPOINT"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 10
LISTING_PAGE_SIZE = 300
LISTING_MARGIN = timedelta(minutes=5)

_SECRET_CODES = {"SignatureDoesNotMatch", "InvalidAccessKeySecret", "IncompleteSignature"}
_KEY_ID_CODES = {"InvalidAccessKeyId.NotFound", "InvalidAccessKeyId", "InvalidAccessKeyId.Inactive"}

# Transport errors raised before the request could leave this machine: safe to resend a Submit.
_NEVER_LEFT = (
    (re.compile(r"connection refused|errno 111\b|winerror 10061", re.I), "connection refused"),
    (
        re.compile(
            r"name or service not known|nodename nor servname|temporary failure in name resolution"
            r"|getaddrinfo failed|no address associated|name resolution",
            re.I,
        ),
        "the host name does not resolve",
    ),
    (re.compile(r"connect timeout=|connecttimeout", re.I), "connecting timed out"),
    (
        re.compile(r"no route to host|network is unreachable|host is unreachable", re.I),
        "no route to the host",
    ),
    (re.compile(r"cannot connect to proxy", re.I), "cannot connect to the proxy"),
    (re.compile(r"failed to establish a new connection", re.I), "cannot connect"),
)
# The wording of a failure to open the connection (urllib3's NewConnectionError, and ours).
_CONNECTING = re.compile(r"failed to establish a new connection", re.I)
_IN_FLIGHT = (
    (re.compile(r"read timed out|read timeout", re.I), "no answer within the read timeout"),
    (
        re.compile(r"remote end closed connection|remotedisconnected|connection aborted", re.I),
        "the connection was closed without an answer",
    ),
    (re.compile(r"connection reset|errno 104\b|broken pipe", re.I), "the connection was reset"),
)


def silence_sdk_logs() -> None:
    """The SDK logs every ServerException at ERROR (and debug dumps with tokens): we report errors
    ourselves."""
    names = ["aliyunsdkcore"] + [n for n in logging.root.manager.loggerDict if n.startswith("aliyunsdkcore.")]
    for name in names:
        lg = logging.getLogger(name)
        lg.setLevel(logging.CRITICAL + 1)
        lg.propagate = False


silence_sdk_logs()


# ---------------------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credential:
    access_key_id: str
    access_key_secret: str
    security_token: str | None
    source: str  # where it came from, for messages: "ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET", a profile, ...
    id_hint: str  # what to check when the key id is wrong
    secret_hint: str  # what to check when the secret is wrong

    def __repr__(self) -> str:  # never show the secret or the token
        return f"Credential(access_key_id={mask(self.access_key_id)!r}, source={self.source!r})"


MISSING_CREDENTIALS = (
    "no Alibaba Cloud credentials found: set ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET "
    "(plus ALIBABA_CLOUD_SECURITY_TOKEN for STS), or configure an aliyun CLI profile in ~/.aliyun/config.json"
)


def mask(key_id: str) -> str:
    return key_id[:4] + "****" + key_id[-3:] if len(key_id) > 10 else key_id[:2] + "****"


def _env_pair(env: dict[str, str], id_name: str, secret_name: str) -> tuple[str, str] | None:
    ak, sk = env.get(id_name, "").strip(), env.get(secret_name, "").strip()
    if ak and sk:
        return ak, sk
    if ak or sk:
        have, lack = (id_name, secret_name) if ak else (secret_name, id_name)
        raise CredentialsError(f"{have} is set but {lack} is not: set both (or neither)")
    return None


def resolve_credentials(env: dict[str, str] | None = None, home: Path | None = None) -> Credential:
    """The credential chain. Raises CredentialsError (one line) when nothing usable is found."""
    env = dict(os.environ) if env is None else env
    pair = _env_pair(env, "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
    if pair:
        token = env.get("ALIBABA_CLOUD_SECURITY_TOKEN", "").strip() or None
        return Credential(
            pair[0],
            pair[1],
            token,
            "ALIBABA_CLOUD_ACCESS_KEY_ID" + (" + ALIBABA_CLOUD_SECURITY_TOKEN" if token else ""),
            "ALIBABA_CLOUD_ACCESS_KEY_ID",
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        )
    pair = _env_pair(env, "ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_SECRET")
    if pair:
        return Credential(
            pair[0], pair[1], None, "ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_ID", "ALIYUN_ACCESS_KEY_SECRET"
        )
    cred = _cli_profile(env, home if home is not None else Path(env.get("HOME") or Path.home()))
    if cred:
        return cred
    raise CredentialsError(MISSING_CREDENTIALS)


def _cli_profile(env: dict[str, str], home: Path) -> Credential | None:
    path = home / ".aliyun" / "config.json"
    shown = "~/.aliyun/config.json"
    wanted = env.get("ALIBABA_CLOUD_PROFILE", "").strip() or None
    if not path.is_file():
        if wanted:
            raise CredentialsError(f"ALIBABA_CLOUD_PROFILE={wanted} is set but {shown} does not exist")
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CredentialsError(
            f"cannot read the aliyun CLI configuration {shown}: {type(e).__name__}"
        ) from None
    if not isinstance(doc, dict):
        raise CredentialsError(f"the aliyun CLI configuration {shown} is not a JSON object")
    name = wanted or doc.get("current") or "default"
    profiles = [p for p in doc.get("profiles") or [] if isinstance(p, dict)]
    profile = next((p for p in profiles if p.get("name") == name), None)
    if profile is None:
        if wanted:
            raise CredentialsError(f"profile {name!r} (ALIBABA_CLOUD_PROFILE) is not in {shown}")
        return None
    mode = profile.get("mode") or "AK"
    where = f"profile {name!r} in {shown}"
    ak, sk = str(profile.get("access_key_id") or ""), str(profile.get("access_key_secret") or "")
    if mode not in ("AK", "StsToken"):
        raise CredentialsError(
            f"{where} uses mode {mode}, which specrunner does not support: use mode AK or "
            "StsToken, or set ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET"
        )
    token = str(profile.get("sts_token") or "") or None
    if not ak or not sk or (mode == "StsToken" and not token):
        need = "access_key_id, access_key_secret" + (" and sts_token" if mode == "StsToken" else "")
        raise CredentialsError(f"{where} (mode {mode}) lacks {need}: run `aliyun configure --profile {name}`")
    return Credential(
        ak,
        sk,
        token if mode == "StsToken" else None,
        where,
        f"access_key_id of the {where}",
        f"access_key_secret of the {where}",
    )


# ---------------------------------------------------------------------------------------- endpoint


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # http | https
    netloc: str  # host[:port]
    host: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def loopback(self) -> bool:
        h = self.host.lower().rstrip(".")
        if h == "localhost" or h.endswith(".localhost"):
            return True
        try:
            return ipaddress.ip_address(h).is_loopback
        except ValueError:
            return False


def default_endpoint(region: str) -> str:
    """The SDK's endpoint for MTS in ``region`` (its endpoint data), else the documented pattern."""
    try:
        from aliyunsdkmts.endpoint import endpoint_data

        mapped = endpoint_data.getEndpointMap().get(region)
    except Exception:  # pragma: no cover - SDK layout changes
        mapped = None
    if not mapped:
        try:
            import aliyunsdkcore

            data = json.loads((Path(aliyunsdkcore.__file__).parent / "data" / "endpoints.json").read_text())
            mapped = data.get("regional_endpoints", {}).get("mts", {}).get(region)
        except Exception:  # pragma: no cover
            mapped = None
    return f"https://{mapped or f'mts.{region}.aliyuncs.com'}"


def parse_endpoint(value: str, source: str) -> Endpoint:
    """``http://host:port``, ``https://host`` or ``host[:port]`` (https)."""
    v = value.strip()
    if "://" not in v:
        v = "https://" + v
    try:
        parts = urlsplit(v)
        host = parts.hostname or ""
        _ = parts.port  # validates the port
    except ValueError:
        raise PermanentBackendError(
            f"{source}: invalid MTS endpoint {value!r}: use https://host or http://host:port",
            code="InvalidEndpoint",
        ) from None
    if (
        parts.scheme.lower() not in ("http", "https")
        or not host
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "@" in parts.netloc  # user info: the host would not be what the SDK signs for
    ):
        raise PermanentBackendError(
            f"{source}: invalid MTS endpoint {value!r}: use https://host or http://host:port",
            code="InvalidEndpoint",
        )
    return Endpoint(parts.scheme.lower(), parts.netloc, host)


def _proxies_for(ep: Endpoint) -> dict[str, None] | None:
    """No proxy for loopback or NO_PROXY hosts (the SDK ignores NO_PROXY); else the SDK's env default."""
    if ep.loopback:
        return {"http": None, "https": None}
    try:
        proxies = urllib.request.getproxies_environment()
        # Undocumented, so typeshed omits it; present in every Python 3.
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
        if proxies and bypass(ep.host, proxies):
            return {"http": None, "https": None}
    except Exception:  # pragma: no cover - malformed NO_PROXY
        pass
    return None


# ---------------------------------------------------------------------------------------- the backend


class AliyunBackend:
    name = "aliyun"
    # A Submit whose answer was lost may still be being created for up to the read timeout; a
    # lookup miss before then proves nothing. SPECRUNNER_UNCERTAIN_GRACE overrides it (seconds).
    uncertain_grace = float(READ_TIMEOUT)
    # A job id unknown to QuerySnapshotJobList right after its Submit may not have propagated yet.
    not_found_grace = NOT_FOUND_GRACE

    def __init__(
        self,
        *,
        region: str,
        endpoint: Endpoint,
        credential: Credential,
        workers: int = 8,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        silence_sdk_logs()  # again: SDK modules imported since may have added loggers
        memoize_sdk_quoting()
        self.region = region
        self.endpoint = endpoint
        self.credential = credential
        proxies = _proxies_for(endpoint)
        # Explicit ak/secret: the SDK's signer factory then ignores ALIYUN_ACCESS_KEY_* in the environment.
        self.client = AcsClient(
            credential.access_key_id,
            credential.access_key_secret,
            region_id=region,
            auto_retry=False,
            connect_timeout=connect_timeout,
            timeout=read_timeout,
            pool_size=max(10, workers + 2),
            proxy=proxies,
        )
        if credential.security_token:
            # STS: sign with the temporary key and send SecurityToken. Set after construction so that no
            # environment variable can substitute another credential (the factory prefers ALIYUN_* env).
            self.client._signer = StsTokenSigner(
                StsTokenCredential(
                    credential.access_key_id, credential.access_key_secret, credential.security_token
                )
            )
        self.client.append_user_agent("specrunner", __version__)
        # The SDK signs every request; a kept-alive connection carries it unless a proxy applies.
        self.transport = (
            KeepAliveTransport(
                self.client,
                scheme=endpoint.scheme,
                netloc=endpoint.netloc,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
            )
            if keep_alive_allowed(no_proxy=proxies is not None, scheme=endpoint.scheme)
            else None
        )
        self.uncertain_grace = float(read_timeout)
        grace = os.environ.get("SPECRUNNER_UNCERTAIN_GRACE", "").strip()
        if grace:
            try:
                self.uncertain_grace = max(0.0, float(grace))
            except ValueError:
                raise PermanentBackendError(
                    f"SPECRUNNER_UNCERTAIN_GRACE must be a number of seconds, got {grace!r}"
                ) from None

    @classmethod
    def from_target(cls, target: Any, workers: int = 8) -> AliyunBackend:
        env_ep = os.environ.get(ENDPOINT_ENV, "").strip()
        region = getattr(target, "region", None)
        if env_ep:
            endpoint = parse_endpoint(env_ep, ENDPOINT_ENV)
        elif getattr(target, "endpoint", None):
            endpoint = parse_endpoint(target.endpoint, "target.endpoint")
        elif region:
            endpoint = parse_endpoint(default_endpoint(region), f"target.region {region}")
        else:
            raise PermanentBackendError(
                "backend aliyun needs target.region (e.g. cn-shanghai) or an endpoint", code="MissingRegion"
            )
        credential = resolve_credentials()
        return cls(region=region or "cn-shanghai", endpoint=endpoint, credential=credential, workers=workers)

    # ------------------------------------------------------------------ the protocol

    def submit(
        self, request: dict[str, Any], user_data: str, gate: Callable[[], None] | None = None
    ) -> RemoteJob:
        req = SubmitSnapshotJobRequest()
        req.set_Input(json.dumps(request["Input"], separators=(",", ":"), ensure_ascii=False))
        req.set_SnapshotConfig(
            json.dumps(request["SnapshotConfig"], separators=(",", ":"), ensure_ascii=False)
        )
        if request.get("PipelineId"):
            req.set_PipelineId(request["PipelineId"])
        if user_data:
            req.set_UserData(user_data)
        body = self._do(req, submit=True, gate=gate)
        job = body.get("SnapshotJob")
        if not isinstance(job, dict) or not job.get("Id") or not job.get("State"):
            raise UncertainSubmitError(
                f"{self._where()}: the service answered the Submit without a job; it may exist and will be "
                "looked up by its tag",
                code="NoJobInAnswer",
                http_status=200,
                request_id=body.get("RequestId"),
            )
        return self._job(job)

    def query(self, ids: Sequence[str]) -> tuple[list[RemoteJob], list[str]]:
        assert 0 < len(ids) <= MAX_QUERY_IDS, f"query takes 1..{MAX_QUERY_IDS} ids"
        req = QuerySnapshotJobListRequest()
        req.set_SnapshotJobIds(",".join(ids))
        body = self._do(req, submit=False)
        return self._jobs(body), self._missing(body)

    def find_by_tag(self, tag: str, *, pipeline_id: str | None, since: datetime) -> RemoteJob | None:
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        start = (since.astimezone(UTC) - LISTING_MARGIN).strftime(TIME_FORMAT)
        end = (datetime.now(UTC) + LISTING_MARGIN).strftime(TIME_FORMAT)
        token: str | None = None
        seen: set[str] = set()
        while True:
            req = QuerySnapshotJobListRequest()
            req.set_StartOfJobCreatedTimeRange(start)
            req.set_EndOfJobCreatedTimeRange(end)
            if pipeline_id:
                req.set_PipelineId(pipeline_id)
            req.set_MaximumPageSize(LISTING_PAGE_SIZE)
            if token:
                req.set_NextPageToken(token)
            body = self._do(req, submit=False)
            for job in self._jobs(body):
                if tag in job.user_data:
                    return job
            token = body.get("NextPageToken") or None
            if not token or token in seen:
                return None
            seen.add(token)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        try:
            self.client.session.close()
        except Exception:  # pragma: no cover
            pass

    # ------------------------------------------------------------------ one call

    def _where(self) -> str:
        return f"MTS at {self.endpoint.url}"

    def _do(self, req: Any, *, submit: bool, gate: Callable[[], None] | None = None) -> dict[str, Any]:
        req.set_endpoint(self.endpoint.netloc)
        # The SDK's constants, not equal strings: it tests `protocol is PT.HTTPS` and would silently
        # fall back to plain HTTP for any other "https" object.
        req.set_protocol_type(protocol_type.HTTPS if self.endpoint.scheme == "https" else protocol_type.HTTP)
        try:
            if self.transport is not None:
                raw = self.transport.do_action(req, gate)
            else:
                if gate is not None:  # the SDK's own session: as late as its API allows
                    gate()
                raw = self.client.do_action_with_exception(req)
        except LeaseLost:  # the gate said no: nothing was sent
            raise
        except ServerException as e:
            raise self._server_error(e, submit) from None
        except ClientException as e:
            raise self._client_error(e, submit) from None
        except Exception as e:  # the SDK has known bugs (IndexError on some error bodies)
            cls = UncertainSubmitError if submit else TransientBackendError
            raise cls(
                f"{self._where()}: the SDK failed while handling the answer ({type(e).__name__})",
                code="SDKError",
            ) from None
        try:
            body = json.loads(raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw)
        except (ValueError, TypeError, UnicodeDecodeError):
            body = None
        bad = None
        if not isinstance(body, dict):
            bad = "an empty or non-JSON body"
        elif body.get("Code"):
            bad = f"error {body.get('Code')}"
        if bad:
            rid = body.get("RequestId") if isinstance(body, dict) else None
            if submit:
                raise UncertainSubmitError(
                    f"{self._where()}: the service answered 200 with {bad} to a Submit; "
                    "the job may exist and will be looked up by its tag",
                    code="BadAnswer",
                    http_status=200,
                    request_id=rid,
                )
            raise TransientBackendError(
                f"{self._where()}: the service answered 200 with {bad}",
                code="BadAnswer",
                http_status=200,
                request_id=rid,
            )
        return cast(dict[str, Any], body)  # json.loads is untyped; any non-dict body raised above

    def _jobs(self, body: dict[str, Any]) -> list[RemoteJob]:
        lst = body.get("SnapshotJobList")
        jobs = lst.get("SnapshotJob") if isinstance(lst, dict) else None
        if jobs is None:
            if "SnapshotJobList" in body or "NonExistSnapshotJobIds" in body:
                return []
            raise TransientBackendError(
                "the service answered 200 without a job list",
                code="BadAnswer",
                http_status=200,
                request_id=body.get("RequestId"),
            )
        if isinstance(jobs, dict):  # a single job, as some XML->JSON gateways render lists of one
            jobs = [jobs]
        return [self._job(j) for j in jobs]

    @staticmethod
    def _missing(body: dict[str, Any]) -> list[str]:
        ne = body.get("NonExistSnapshotJobIds")
        ids = ne.get("String") if isinstance(ne, dict) else None
        if isinstance(ids, str):
            return [ids]
        return [str(i) for i in ids or []]

    # ------------------------------------------------------------------ errors

    def _clean(self, text: str) -> str:
        """A server message made safe to show: one line, no string to sign, no secret, no token."""
        text = " ".join(str(text or "").split())
        cut = re.search(r"string to sign", text, re.I)
        if cut:
            text = text[: cut.start()].rstrip(" .:") + " (string to sign omitted)"
        return self._redact(text)[:300]

    def _redact(self, text: str) -> str:
        """``text`` without the AccessKey secret or the STS token, in any form (``core.secrets``)."""
        return redact(text, (self.credential.access_key_secret, self.credential.security_token))

    def _job(self, job: dict[str, Any]) -> RemoteJob:
        """A job from the service's answer; its Code and Message (recorded in the lock file and the
        run file) could echo the request, so they are redacted."""
        remote = RemoteJob.from_api(job)
        code, message = self._redact(remote.code), self._redact(remote.message)
        if (code, message) == (remote.code, remote.message):
            return remote
        return dataclasses.replace(remote, code=code, message=message)

    def _server_error(self, e: ServerException, submit: bool) -> BackendError:
        code = self._redact(str(e.get_error_code() or ""))
        status = e.get_http_status()
        rid = e.get_request_id()
        kw: dict[str, Any] = {"code": code, "http_status": status, "request_id": rid}
        where = self._where()
        throttled = code.startswith("Throttling") or status == 429
        # One table decides (specrunner.core.codes): e.g. SnapshotTimeOut is permanent even as a 5xx (the FAQ
        # advises async mode, not a retry); TransientNetWorkError is transient whatever its status.
        kind = classify(code, status)
        if code == "SnapshotTimeOut":
            return PermanentBackendError(
                f"SnapshotTimeOut: {self._clean(e.get_error_msg())} (a sync "
                "snapshot took more than about 6 s; not retried: use async mode)",
                **kw,
            )
        if kind != "permanent":
            if submit and kind == "uncertain":
                return UncertainSubmitError(
                    f"{where}: {code} (HTTP {status}) on Submit; the job may exist and "
                    "will be looked up by its tag",
                    **kw,
                )
            if throttled:
                return TransientBackendError(f"{where}: throttled ({code}); slowing down", **kw)
            return TransientBackendError(
                f"{where}: {code} (HTTP {status}): {self._clean(e.get_error_msg())}", **kw
            )
        c = self.credential
        if code in _SECRET_CODES:
            return CredentialsError(
                f"{where} refused the signature ({code}): the AccessKey secret is wrong, "
                f"check {c.secret_hint}",
                **kw,
            )
        if code in _KEY_ID_CODES:
            state = "is disabled" if code.endswith("Inactive") else "does not exist"
            return CredentialsError(
                f"{where}: the AccessKey ID {mask(c.access_key_id)} {state} ({code}): check {c.id_hint}", **kw
            )
        if code.startswith(("InvalidSecurityToken", "SecurityToken")):
            return CredentialsError(
                f"{where}: the STS security token was refused ({code}): get a fresh token "
                "and set ALIBABA_CLOUD_SECURITY_TOKEN (with its AccessKey pair)",
                **kw,
            )
        if code.startswith("InvalidTimeStamp"):
            return PermanentBackendError(
                f"{where} refused the request time ({code}): set this machine's clock "
                "right (it must be within 15 minutes of UTC)",
                **kw,
            )
        if (
            code.startswith("Forbidden")
            or code in ("NoPermission", "InvalidIdentity.ServiceDisabled")
            or status == 403
        ):
            return PermanentBackendError(
                f"{where}: permission denied ({code}): grant this RAM identity MTS access "
                f"(e.g. AliyunMTSFullAccess) and check that MTS is activated; "
                f"{self._clean(e.get_error_msg())}",
                **kw,
            )
        if code == "InvalidApi.NotFound":
            return PermanentBackendError(
                f"{where} does not serve MTS 2014-06-18 ({code}): check the endpoint "
                f"and region ({ENDPOINT_ENV} / target.endpoint / target.region)",
                **kw,
            )
        return PermanentBackendError(f"{code}: {self._clean(e.get_error_msg())}", **kw)

    def _client_error(self, e: ClientException, submit: bool) -> BackendError:
        code = self._redact(str(e.get_error_code() or ""))
        msg = str(e.get_error_msg() or "")
        where = self._where()
        if code == "SDK.HttpError":
            if re.search(r"certificate verify failed|CERTIFICATE_VERIFY_FAILED", msg):
                return PermanentBackendError(
                    f"{where}: TLS certificate verification failed: fix the endpoint or "
                    "set ALIBABA_CLOUD_CA_BUNDLE to your CA bundle",
                    code="SDK.SSLError",
                )
            # Whether the request may have left decides whether a Submit may be resent: a failure is
            # "never left" only when its wording proves it (and never on the strength of words a
            # server could have sent: the in-flight phrases are checked first).
            in_flight = next((w for rx, w in _IN_FLIGHT if rx.search(msg)), None)
            if in_flight and "connection aborted" not in msg.lower() and _CONNECTING.search(msg):
                in_flight = None  # e.g. a reset while connecting: the connect phase's own words
            if in_flight is None:
                if re.search(r"WRONG_VERSION_NUMBER|unknown protocol|record layer failure", msg):
                    return PermanentBackendError(
                        f"{where}: the TLS handshake failed (the endpoint does not speak https?): "
                        "for a plain-HTTP "
                        "endpoint write http://host:port",
                        code="SDK.SSLError",
                    )
                if re.search(r"SSLError|SSL:", msg):
                    # Our transport words only a failed handshake so (nothing was sent); the SDK's
                    # session also calls a TLS error while reading the answer an SSLError.
                    if self.transport is not None or not submit:
                        return TransientBackendError(
                            f"cannot reach {where}: the TLS handshake failed", code="EndpointUnreachable"
                        )
                    in_flight = "a TLS error"
                elif re.search(r"cannot connect to proxy", msg, re.I) and not re.search(
                    r"NewConnectionError|failed to establish|connect timeout", msg, re.I
                ):
                    # urllib3 calls every socket error on a proxied connection "Cannot connect to
                    # proxy", also one after the request was sent through it.
                    in_flight = "the proxy connection failed"
                else:
                    for rx, why in _NEVER_LEFT:
                        if rx.search(msg):
                            return TransientBackendError(
                                f"cannot reach {where}: {why}; "
                                f"check {ENDPOINT_ENV} / target.endpoint and the network",
                                code="EndpointUnreachable",
                            )
            why = in_flight or "a transport error"
            if submit:
                return UncertainSubmitError(
                    f"{where}: the Submit got no answer ({why}); the job may exist and "
                    "will be looked up by its tag",
                    code="NoAnswer",
                )
            return TransientBackendError(f"{where}: no answer ({why})", code="NoAnswer")
        if code == "SDK.InvalidCredential":
            return CredentialsError(MISSING_CREDENTIALS, code=code)
        return PermanentBackendError(f"{where}: {code}: {self._clean(msg)}", code=code)
