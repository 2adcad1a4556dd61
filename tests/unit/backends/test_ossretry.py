"""The OSS retry policy and error map as pure logic: a fake clock records every wait, fake SDK
exceptions stand for what oss2 raises. No network, no sleeping."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from oss2 import exceptions as oss_exc

from specrunner.backends.credentials import Credential
from specrunner.backends.endpoints import Endpoint
from specrunner.backends.osserrors import OssCall, oss_error
from specrunner.backends.ossretry import LISTING, STATE, OssRetry
from specrunner.core.errors import (
    BackendError,
    CredentialsError,
    PermanentBackendError,
    TransientBackendError,
)
from specrunner.statefile.leaseview import MARGIN
from tests.fakes import FakeClock

CRED = Credential("LTAIexamplekey123", "the-secret", "CAIS-the-token", "test", "id-hint", "secret-hint")
CALL = OssCall(
    Endpoint("https", "oss-cn-shanghai.aliyuncs.com", "oss-cn-shanghai.aliyuncs.com"), "b", "oss://b/p", CRED
)


def server(status: int, code: str, message: str = "") -> oss_exc.ServerError:
    return oss_exc.ServerError(status, {"x-oss-request-id": "rid"}, b"", {"Code": code, "Message": message})


def failing(errors: list[Exception], then: str = "ok") -> tuple[Callable[[], str], list[int]]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return then

    return fn, calls


def translate(e: Exception) -> BackendError:
    return oss_error(e, CALL)


def test_transient_errors_are_retried_with_bounded_jittered_waits() -> None:
    clock = FakeClock()
    fn, calls = failing([server(503, "ServiceUnavailable"), server(500, "InternalError")])
    assert STATE.call(fn, translate, sleep=clock.sleep) == "ok"
    assert len(calls) == 3 and len(clock.sleeps) == 2
    for n, slept in enumerate(clock.sleeps, start=1):
        assert STATE.delay(n) / 2 <= slept <= STATE.delay(n)


def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    clock = FakeClock()
    fn, calls = failing([server(503, "SlowDown")] * 20)
    with pytest.raises(TransientBackendError) as ei:
        STATE.call(fn, translate, sleep=clock.sleep)
    assert ei.value.code == "SlowDown" and ei.value.__cause__ is None
    assert len(calls) == STATE.attempts and len(clock.sleeps) == STATE.attempts - 1
    assert sum(clock.sleeps) <= STATE.max_wait


def test_permanent_errors_are_not_retried() -> None:
    for e, cls in [
        (server(404, "NoSuchKey"), PermanentBackendError),
        (server(409, "PositionNotEqualToLength"), PermanentBackendError),
        (server(403, "SignatureDoesNotMatch"), CredentialsError),
        (oss_exc.ClientError("bad key"), PermanentBackendError),
    ]:
        clock = FakeClock()
        fn, calls = failing([e])
        with pytest.raises(cls):
            STATE.call(fn, translate, sleep=clock.sleep)
        assert len(calls) == 1 and clock.sleeps == []


def test_todays_bounds_and_the_lease() -> None:
    """The remote state: 8 attempts, 0.1 s doubling, no wait over 2 s, 7.1 s in all; a listing: 3
    attempts, 0.5 s then 1 s. Jitter only shortens a wait."""
    assert [STATE.delay(n) for n in range(1, STATE.attempts)] == [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert STATE.max_wait == pytest.approx(7.1)
    assert (LISTING.attempts, LISTING.max_wait) == (3, 1.5)
    # The default lease (60 s) outlasts a renewal retried to the end, waits included, with the
    # gate's margin (a quarter of the lease) still to spare.
    assert STATE.max_wait < 60.0 * MARGIN
    clock = FakeClock()
    fn, _ = failing([server(500, "InternalError")] * 20)

    def once() -> str:
        try:
            return fn()
        except Exception as e:
            raise translate(e) from None

    with pytest.raises(TransientBackendError):  # the longest waits jitter allows
        STATE.retrying(sleep=clock.sleep, rand=lambda: 1.0)(once)
    assert sum(clock.sleeps) == pytest.approx(STATE.max_wait)


def test_no_jitter_and_zero_backoff() -> None:
    clock = FakeClock()
    fn, _ = failing([server(500, "InternalError")] * 2)
    OssRetry(3, 0.0, 8.0).call(fn, translate, sleep=clock.sleep)
    assert clock.sleeps == [0.0, 0.0]
    clock = FakeClock()
    fn, _ = failing([server(500, "InternalError")] * 2)
    OssRetry(3, 0.5, 8.0, jitter=False).call(fn, translate, sleep=clock.sleep)
    assert clock.sleeps == [0.5, 1.0]
    with pytest.raises(ValueError):
        OssRetry(0, 0.1, 1.0)


@pytest.mark.parametrize(
    ("e", "kind", "code"),
    [
        (server(500, "InternalError"), TransientBackendError, "InternalError"),
        (server(429, "Whatever"), TransientBackendError, "Whatever"),
        (server(400, "RequestTimeout"), TransientBackendError, "RequestTimeout"),
        (server(503, "Throttling.User"), TransientBackendError, "Throttling.User"),
        (
            oss_exc.RequestError(OSError("Read timed out. (read timeout=30)")),
            TransientBackendError,
            "NoAnswer",
        ),
        (
            oss_exc.RequestError(
                OSError("Failed to establish a new connection: [Errno 111] Connection refused")
            ),
            TransientBackendError,
            "EndpointUnreachable",
        ),
        (oss_exc.RequestError(OSError("certificate verify failed")), PermanentBackendError, "SSLError"),
        (ValueError("not XML"), TransientBackendError, "BadAnswer"),
        (server(403, "InvalidAccessKeyId"), CredentialsError, "InvalidAccessKeyId"),
        (server(403, "SecurityTokenExpired"), CredentialsError, "SecurityTokenExpired"),
        (server(404, "NoSuchBucket"), PermanentBackendError, "NoSuchBucket"),
        (server(403, "AccessDenied"), PermanentBackendError, "AccessDenied"),
        (server(409, "FileAlreadyExists"), PermanentBackendError, "FileAlreadyExists"),
    ],
)
def test_the_error_map(e: Exception, kind: type[BackendError], code: str) -> None:
    err = oss_error(e, CALL)
    assert type(err) is kind and err.code == code
    assert "\n" not in str(err) and "oss://b/p" in str(err)


def test_messages_never_carry_the_secret_or_the_token() -> None:
    err = oss_error(server(403, "AccessDenied", "string to sign has CAIS-the-token and the-secret"), CALL)
    assert "CAIS-the-token" not in str(err) and "the-secret" not in str(err)
    assert "LTAIexamplekey123" not in str(oss_error(server(403, "InvalidAccessKeyId"), CALL))
