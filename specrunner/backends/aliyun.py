"""The Alibaba Cloud MTS backend: SubmitSnapshotJob / QuerySnapshotJobList through the V1 Python SDK.

The only modules that import ``aliyunsdkcore`` / ``aliyunsdkmts`` are this one and its helpers, one
concern each: ``mtsrequests`` (building the requests), ``mtsanswers`` (reading the answers),
``mtserrors`` (everything the SDK raises, as the project's errors, ``specrunner.core.errors``) and
``transport`` (kept-alive connections). Credentials come from ``credentials``, endpoints and proxies
from ``endpoints``.

Retries and rate limits live in the executor, not here: the client never retries (``auto_retry=False``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aliyunsdkcore.acs_exception.exceptions import ClientException, ServerException
from aliyunsdkcore.auth.credentials import StsTokenCredential
from aliyunsdkcore.auth.signers.sts_token_signer import StsTokenSigner
from aliyunsdkcore.client import AcsClient
from aliyunsdkcore.http import protocol_type

from specrunner import __version__
from specrunner.backends.base import MAX_QUERY_IDS, NOT_FOUND_GRACE, RemoteJob
from specrunner.backends.credentials import Credential, resolve_credentials
from specrunner.backends.endpoints import Endpoint, parse_endpoint, proxies_for
from specrunner.backends.mtsanswers import answer_body, listed_jobs, missing_ids, submitted_job
from specrunner.backends.mtserrors import ENDPOINT_ENV, MtsErrors
from specrunner.backends.mtsrequests import listing_request, query_request, submit_request
from specrunner.backends.transport import KeepAliveTransport, keep_alive_allowed, memoize_sdk_quoting
from specrunner.core.errors import (
    LeaseLost,
    PermanentBackendError,
    TransientBackendError,
    UncertainSubmitError,
)

TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 10
LISTING_PAGE_SIZE = 300
LISTING_MARGIN = timedelta(minutes=5)


def silence_sdk_logs() -> None:
    """The SDK logs every ServerException at ERROR (and debug dumps with tokens): we report errors
    ourselves."""
    names = ["aliyunsdkcore"] + [n for n in logging.root.manager.loggerDict if n.startswith("aliyunsdkcore.")]
    for name in names:
        lg = logging.getLogger(name)
        lg.setLevel(logging.CRITICAL + 1)
        lg.propagate = False


silence_sdk_logs()


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
        self.errors = MtsErrors(endpoint, credential)
        proxies = proxies_for(endpoint)
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
        body = self._do(submit_request(request, user_data), submit=True, gate=gate)
        return submitted_job(body, self.errors.redact, self.errors.where)

    def query(self, ids: Sequence[str]) -> tuple[list[RemoteJob], list[str]]:
        assert 0 < len(ids) <= MAX_QUERY_IDS, f"query takes 1..{MAX_QUERY_IDS} ids"
        body = self._do(query_request(ids), submit=False)
        return listed_jobs(body, self.errors.redact), missing_ids(body)

    def find_by_tag(self, tag: str, *, pipeline_id: str | None, since: datetime) -> RemoteJob | None:
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        start = (since.astimezone(UTC) - LISTING_MARGIN).strftime(TIME_FORMAT)
        end = (datetime.now(UTC) + LISTING_MARGIN).strftime(TIME_FORMAT)
        token: str | None = None
        seen: set[str] = set()
        while True:
            req = listing_request(
                start, end, pipeline_id=pipeline_id, page_size=LISTING_PAGE_SIZE, token=token
            )
            body = self._do(req, submit=False)
            for job in listed_jobs(body, self.errors.redact):
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
            raise self.errors.server(e, submit) from None
        except ClientException as e:
            raise self.errors.client(e, submit, own_transport=self.transport is not None) from None
        except Exception as e:  # the SDK has known bugs (IndexError on some error bodies)
            cls = UncertainSubmitError if submit else TransientBackendError
            raise cls(
                f"{self.errors.where}: the SDK failed while handling the answer ({type(e).__name__})",
                code="SDKError",
            ) from None
        return answer_body(raw, submit=submit, where=self.errors.where)
