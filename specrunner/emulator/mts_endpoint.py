"""One MTS RPC request, from its parameters to its answer: authentication, faults, the action, errors.

- ``POST`` or ``GET`` on ``/`` (any other path is 404 ``InvalidApi.NotFound``); the parameters are
  the query string's (and a form-encoded POST body's: the HTTP front merges them); a request with
  an ``ACS3-HMAC-SHA256`` Authorization header carries its action in ``x-acs-action``.
- Order of checks: the path; ``Action``, then the action and ``Version`` (after authentication for
  ACS3, whose action is a signed header); authentication (``emulator/mts_auth.py``); throttling and
  injected errors (``emulator/faults.py``); the action (``emulator/mts_actions.py``). A dropped
  Submit creates its job and has no answer.
- Errors are non-2xx answers with a ``{RequestId, HostId, Code, Message}`` body; an exception that
  is not an API error (a bug) is answered 500 ``InternalError``, as the service would.

Invariants: every request is journaled once, answered or not, without ``Signature``,
``AccessKeyId`` or ``SecurityToken``; the latency is part of the journaled ``ms``.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from specrunner.emulator import acs3
from specrunner.emulator.faults import Faults
from specrunner.emulator.journal import Journal, journal_entry
from specrunner.emulator.mts_actions import MtsActions
from specrunner.emulator.mts_auth import SIGNATURE_MISMATCH, NonceCache, verify_acs3, verify_v1
from specrunner.emulator.mts_protocol import ACTIONS, VERSION, Answer, ApiError, api_not_found, missing
from specrunner.engine.errors import ServiceError
from specrunner.engine.jobtable import JobTable

log = logging.getLogger(__name__)

HIDDEN_PARAMS = ("Signature", "AccessKeyId", "SecurityToken")  # never journaled

_Acs3Request = tuple[list[tuple[str, str]], list[tuple[str, str]], bytes]  # query, headers, body


class MtsEndpoint:
    """The MTS side of a running emulator."""

    def __init__(
        self,
        *,
        keys: dict[str, str],
        nonces: NonceCache,
        faults: Faults,
        actions: MtsActions,
        jobs: JobTable,
        journal: Journal,
    ) -> None:
        self.keys, self.nonces, self.faults = keys, nonces, faults
        self.actions, self.jobs, self.journal = actions, jobs, journal

    def handle(
        self,
        method: str,
        path: str,
        items: list[tuple[str, str]],
        headers: list[tuple[str, str]],
        body: bytes = b"",
    ) -> Answer:
        """Answer one request. ``headers`` and ``body`` matter for requests signed with
        ACS3-HMAC-SHA256 (the newer SDKs), whose action travels in a header."""
        started = time.monotonic()
        rid = str(uuid.uuid4()).upper()
        params: dict[str, str] = {}
        for k, v in items:
            params[k] = v
        v3: _Acs3Request | None = None
        auth = next((v for k, v in headers if k.lower() == "authorization"), None)
        if acs3.is_acs3(auth):
            v3 = (list(items), list(headers), body)
            params.setdefault("Action", next((v for k, v in headers if k.lower() == "x-acs-action"), ""))
        region = params.get("RegionId") or "cn-shanghai"
        shown = {k: v for k, v in params.items() if k not in HIDDEN_PARAMS}
        entry = journal_entry(method, params.get("Action", ""), rid, shown, user_data=params.get("UserData"))
        if "SecurityToken" in params:
            entry["sts"] = True
        if params.get("SnapshotJobIds"):
            entry["ids"] = len([s for s in params["SnapshotJobIds"].split(",") if s.strip()])
        self.faults.delay()
        try:
            answer = self._route(method, path, params, rid, entry, v3)
        except ApiError as e:
            answer = Answer(
                e.status,
                {
                    "RequestId": rid,
                    "HostId": f"mts.{region}.aliyuncs.com",
                    "Code": e.code,
                    "Message": e.message,
                },
            )
        except Exception:  # a bug in the emulator or the engine: answer as the service would
            log.exception("emulator: internal error")
            answer = Answer(
                500,
                {
                    "RequestId": rid,
                    "HostId": f"mts.{region}.aliyuncs.com",
                    "Code": "InternalError",
                    "Message": "The request processing has failed due to some unknown error.",
                },
            )
        entry["status"] = None if answer.drop else answer.status
        entry["code"] = "" if answer.drop else str(answer.body.get("Code", ""))
        if answer.drop:
            entry["dropped"] = True
        entry["ms"] = round((time.monotonic() - started) * 1000, 1)
        self.journal.add(entry)
        return answer

    def _route(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        rid: str,
        entry: dict[str, Any],
        v3: _Acs3Request | None,
    ) -> Answer:
        if path.rstrip("/") != "":
            raise api_not_found()
        if v3 is not None:  # ACS3-HMAC-SHA256 in headers: checked here, then the same actions
            params.update(verify_acs3(method, path, v3[0], v3[1], v3[2], self.keys, self.nonces))
            entry["signature"] = acs3.ALGORITHM
            if "SecurityToken" in params:
                entry["sts"] = True
            return self._dispatch(params, rid, entry)
        action = params.get("Action")
        if not action:
            raise missing("Action")
        if action not in ACTIONS or params.get("Version") != VERSION:
            raise api_not_found()
        verify_v1(method, params, self.keys, self.nonces)
        return self._dispatch(params, rid, entry)

    def _dispatch(self, params: dict[str, str], rid: str, entry: dict[str, Any]) -> Answer:
        """An authenticated request: throttling, injected faults, then the action."""
        action = params.get("Action", "")
        if action not in ACTIONS or params.get("Version") != VERSION:
            raise api_not_found()
        if self.faults.answer_error is not None:
            code, status = self.faults.answer_error
            # as the service spells it: the V1 SDK splits this one's message at ':' (research notes 5.4)
            text = f"{SIGNATURE_MISMATCH}(injected)" if code == "SignatureDoesNotMatch" else code
            raise ApiError(code, f"{text} (an injected error answer)", status)
        if not self.faults.admit(action):
            raise ApiError("Throttling.User", "Request was denied due to user flow control.", 400)
        if self.faults.chance(self.faults.error_rate):
            if self.faults.chance(0.5):
                raise ApiError(
                    "InternalError",
                    "The request processing has failed due to some unknown error, exception or failure.",
                    500,
                )
            raise ApiError(
                "ServiceUnavailable", "The request has failed due to a temporary failure of the server.", 503
            )
        try:
            self.actions.job_code = self.faults.job_code
            if action == "SubmitSnapshotJob":
                body = self.actions.submit(self.jobs, params, rid)
                entry["job_id"] = body["SnapshotJob"]["Id"]
                return Answer(200, body, drop=self.faults.chance(self.faults.drop_rate))
            return Answer(200, self.actions.query(self.jobs, params, rid))
        except ServiceError as e:
            raise ApiError(e.code, e.message, e.status) from None
