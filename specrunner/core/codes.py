"""Every documented MTS error code, classified once: permanent, transient or uncertain.

Sources (the 2014-06-18 API; the Chinese originals where the English pages lag):

- SubmitSnapshotJob page, section "Screenshot error codes" (snapshot job codes), and the snapshot FAQ
  (截图常见问题): ``SnapshotTimeOut`` comes back after about 6 s of a *sync* snapshot and "retry is not
  recommended" (switch to async mode instead); ``TransientNetWorkError`` is a temporary download error
  that "can generally be recovered by retrying"; ``InternalError`` is retryable;
  ``InvalidParameter.ResourceNotFound`` / ``ResourceContentBad`` are not.
- The MTS "Error code list" appendix (``InvalidParameter.*``, ``PermissionDenied.*``, ``Throttling``,
  ``InvalidIdentity.ServiceDisabled``, the MNS message-sending codes).
- The common POP gateway errors of Alibaba Cloud OpenAPI (``MissingParameter``, ``InvalidAccessKeyId.*``,
  ``SignatureDoesNotMatch``, ``InvalidTimeStamp.*``, ``SignatureNonceUsed``, ``Throttling*``,
  ``Forbidden*``, ``InternalError`` 500 "retrying is recommended", ``ServiceUnavailable`` 503).
- The V1 SDK's own retry table (``aliyunsdkcore/data/retry_config.json``): Throttling; InternalError,
  UnknownError, ServiceUnavailable.

The three classes (what the same request, sent again, can be expected to do):

- ``permanent``: it fails again the same way until the manifest, the data or the account changes.
  Never retried in the same run; a *failed job* with such a code is not worth resubmitting unchanged.
  ``SnapshotTimeOut`` is permanent *for this request* (the FAQ: use async mode, do not retry).
- ``transient``: the call did not take effect (or the job failed for a passing reason); sending it
  again is safe and may succeed: throttling, nonce reuse, ``TransientNetWorkError``.
- ``uncertain``: a server-side failure after which a *Submit* may or may not have created its job
  (``InternalError``, ``ServiceUnavailable``, ``UnknownError``, a 5xx with any code not known to be
  permanent). Retrying is right, but a Submit must first look its job up. As the code of a job that
  already failed (``http_status is None``) these mean "the service had a problem": ``transient``.

Unknown codes (invariant: a code never becomes permanent unless something says the caller is at fault):

- a known prefix decides (``InvalidParameter.*``, ``Missing*``, ``Forbidden*``, ``EntityNotExist.*``,
  ``PermissionDenied.*``, ``InvalidAccessKeyId*``, ``InvalidTimeStamp*`` permanent; ``Throttling*``
  transient);
- else the HTTP status: 429 transient, 5xx uncertain, any other 4xx permanent (the gateway's contract:
  4xx codes are the caller's fault);
- else (a job's failure code with no status): ``uncertain``, so that a code nobody documented never
  strands a job that a resubmit could fix. Callers deciding whether to resubmit a failed job treat
  only ``permanent`` as final.
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["permanent", "transient", "uncertain"]

PERMANENT: Kind = "permanent"
TRANSIENT: Kind = "transient"
UNCERTAIN: Kind = "uncertain"

# code -> (class, where it is documented)
TABLE: dict[str, tuple[Kind, str]] = {
    # --- snapshot job codes: SubmitSnapshotJob "Screenshot error codes" + the snapshot FAQ
    "InvalidParameter.ResourceNotFound": (PERMANENT, "Submit page: input object not found, not retryable"),
    "SnapshotTimeOut": (PERMANENT, "FAQ: sync snapshot > ~6 s; retry not recommended, use async mode"),
    "InvalidParameter.ResourceContentBad": (PERMANENT, "Submit page: file damaged or config does not fit it"),
    "EntityNotExist.Role": (PERMANENT, "Submit page: the role does not exist"),
    "PermissionDenied.ResourceAccess": (PERMANENT, "Submit page: MTS is not authorised on the bucket"),
    "InternalError": (UNCERTAIN, "Submit page / gateway 500: unknown internal error, retryable"),
    "TransientNetWorkError": (TRANSIENT, "Submit page: temporary download error, recoverable by retry"),
    # --- the MTS error code list
    "Throttling": (TRANSIENT, "error code list: flow control, retry with backoff"),
    "InvalidIdentity.ServiceDisabled": (PERMANENT, "error code list: MTS is not activated"),
    "InvalidParameter": (PERMANENT, "error code list"),
    "InvalidParameter.NullValue": (PERMANENT, "error code list"),
    "InvalidParameter.EmptyValue": (PERMANENT, "error code list"),
    "InvalidParameter.InvalidState": (PERMANENT, "error code list"),
    "InvalidParameter.NotSupported": (PERMANENT, "error code list"),
    "InvalidParameter.OutOfRange": (PERMANENT, "error code list"),
    "InvalidParameter.JsonFormatInvalid": (PERMANENT, "error code list"),
    "InvalidParameter.JsonObjectFormatInvalid": (PERMANENT, "error code list"),
    "InvalidParameter.UUIDFormatInvalid": (PERMANENT, "error code list"),
    "InvalidParameter.Format": (PERMANENT, "error code list"),
    "InvalidParameter.NumberFormatInvalid": (PERMANENT, "error code list"),
    "InvalidParameter.BucketNameInvalid": (PERMANENT, "error code list"),
    "InvalidParameter.LocationInvalid": (PERMANENT, "error code list"),
    "InvalidParameter.ObjectKeyInvalid": (PERMANENT, "error code list: key 1..1023 bytes"),
    "InvalidParameter.ResourceNotSupported": (PERMANENT, "error code list"),
    "InvalidParameter.ResourceDeleted": (PERMANENT, "error code list"),
    "InvalidParameter.TemplateNotFound": (PERMANENT, "error code list"),
    "InvalidParameter.TemplateNotSupported": (PERMANENT, "error code list (task errors)"),
    "InvalidParameter.JsonArrayFormatInvalid": (PERMANENT, "error code list"),
    "InvalidParameter.NoAudioStream": (PERMANENT, "error code list"),
    "InvalidParameter.MergeFileNoVideoOrAudio": (PERMANENT, "error code list"),
    "PermissionDenied.JobInComplete": (PERMANENT, "error code list (task errors)"),
    "PermissionDenied.JobInFailure": (PERMANENT, "error code list (task errors)"),
    "PermissionDenied.JobInRunning": (PERMANENT, "error code list (task errors)"),
    "NotSupportedJob.SystemTemplateJobNotSupported": (PERMANENT, "error code list (MPS queue errors)"),
    "NotSupportedJob.AnalysisJobNotSupported": (PERMANENT, "error code list (MPS queue errors)"),
    "NotSupportedJob.ContainerFormatNotSupported": (PERMANENT, "error code list (MPS queue errors)"),
    "NotSupportedJob.DurationIsLessThanHalfAnHour": (PERMANENT, "error code list (MPS queue errors)"),
    "PermissionDenied.ResourceQuotaExceed": (PERMANENT, "error code list: quota, needs the account changed"),
    # MNS message-sending codes (error code list): the notification failed, not the request
    "AccessDenied": (PERMANENT, "error code list (message sending)"),
    "QueueNotExist": (PERMANENT, "error code list (message sending)"),
    "TopicNotExist": (PERMANENT, "error code list (message sending)"),
    "InvalidArgument": (PERMANENT, "error code list (message sending)"),
    "InvalidQueueName": (PERMANENT, "error code list (message sending)"),
    "TopicNameInvalid": (PERMANENT, "error code list (message sending)"),
    # --- common POP gateway errors
    "MissingParameter": (PERMANENT, "gateway 400"),
    "InvalidApi.NotFound": (PERMANENT, "gateway 404: wrong endpoint or version"),
    "InvalidAccessKeyId.NotFound": (PERMANENT, "gateway 404/400"),
    "InvalidAccessKeyId.Inactive": (PERMANENT, "gateway 400"),
    "InvalidAccessKeyId": (PERMANENT, "gateway 400"),
    "InvalidAccessKeySecret": (PERMANENT, "V1 SDK rewrite of SignatureDoesNotMatch"),
    "SignatureDoesNotMatch": (PERMANENT, "gateway 400/403"),
    "IncompleteSignature": (PERMANENT, "gateway 400"),
    "InvalidSignatureMethod": (PERMANENT, "gateway 400"),
    "InvalidTimeStamp.Format": (PERMANENT, "gateway 400"),
    "InvalidTimeStamp.Expired": (PERMANENT, "gateway 400: clock skew > 15 min, fix the clock"),
    "SignatureNonceUsed": (TRANSIENT, "gateway 400: resend with a new nonce (each attempt has one)"),
    "Throttling.User": (TRANSIENT, "gateway 400: user flow control"),
    "Throttling.Api": (TRANSIENT, "gateway 400: API flow control"),
    "Forbidden": (PERMANENT, "gateway 403"),
    "Forbidden.RAM": (PERMANENT, "gateway 403"),
    "Forbidden.RiskControl": (PERMANENT, "gateway 403"),
    "ServiceUnavailable": (UNCERTAIN, "gateway 503, retryable"),
    "UnknownError": (UNCERTAIN, "V1 SDK retry table"),
}

# The MTS pages' own prefixes (Submit page, error code list): their bare forms are the same codes.
_JOB_CODE_PREFIXES = (
    "InvalidParameter.",
    "PermissionDenied.",
    "EntityNotExist.",
    "NotSupportedJob.",
    "InvalidIdentity.",
)
_PERMANENT_PREFIXES = (
    "InvalidParameter.",
    "NotSupportedJob.",
    "Missing",
    "Forbidden",
    "EntityNotExist.",
    "PermissionDenied.",
    "InvalidAccessKeyId",
    "InvalidTimeStamp",
    "InvalidSecurityToken",
    "InvalidIdentity.",
)
_TRANSIENT_PREFIXES = ("Throttling",)
# Server-side codes that, with no HTTP status (a failed job's own code), only mean
# "the service had a problem".
_JOB_RETRYABLE = {"InternalError", "ServiceUnavailable", "UnknownError"}


# The bare suffix of a documented permanent code is the same code: the 2021 SubmitSnapshotJob page's
# sample answer says "ResourceContentBad" where the table says "InvalidParameter.ResourceContentBad".
_BARE: dict[str, tuple[Kind, str]] = {
    full.rpartition(".")[2]: (kind, f"the bare form of {full} (2021 sample answers): {where}")
    for full, (kind, where) in TABLE.items()
    if kind == PERMANENT
    and full.startswith(_JOB_CODE_PREFIXES)  # a job's codes
    and full.rpartition(".")[2] not in TABLE
}


def bare_code(code: str) -> str:
    """The bare form of a documented job code, as the 2021 sample answers write it
    (``InvalidParameter.ResourceContentBad`` -> ``ResourceContentBad``); any other code unchanged."""
    suffix = code.rpartition(".")[2]
    return suffix if code.startswith(_JOB_CODE_PREFIXES) and suffix in _BARE else code


def documented_codes() -> list[str]:
    """Every code the table documents, and the bare form of each documented job code."""
    return [*TABLE, *_BARE]


def classify(code: str, http_status: int | None = None) -> Kind:
    """The class of ``code`` (answered with ``http_status``, or None for a failed job's ``Code``).

    See the module docstring for the table's sources and the rule for codes it does not list.
    """
    code = (code or "").strip()
    known = TABLE.get(code) or _BARE.get(code)
    if known is not None:
        kind = known[0]
        if kind == UNCERTAIN and http_status is None and code in _JOB_RETRYABLE:
            return TRANSIENT
        return kind
    if code.startswith(_TRANSIENT_PREFIXES) or http_status == 429:
        return TRANSIENT
    if code.startswith(_PERMANENT_PREFIXES):
        return PERMANENT
    if http_status is not None and http_status >= 500:
        return UNCERTAIN
    if http_status is not None and 400 <= http_status < 500:
        return PERMANENT
    return UNCERTAIN


def retry_in_run(code: str, http_status: int | None = None) -> bool:
    """Whether the same request may be sent again within this run (every class but permanent)."""
    return classify(code, http_status) != PERMANENT


def resubmit_failed(code: str) -> bool:
    """Whether a job that ended ``State=Fail`` with ``code`` is worth resubmitting unchanged."""
    return classify(code, None) != PERMANENT


def documented(code: str) -> str | None:
    """Where the table's class for ``code`` comes from, or None for a code it does not list."""
    code = (code or "").strip()
    known = TABLE.get(code) or _BARE.get(code)
    return known[1] if known else None
