"""The project's error model: one user-facing base, one top-level handler.

Every error a user can cause or meet derives from :class:`SpecrunnerError`. The CLI prints
``error: <message>`` (one line, plus an optional hint) and exits with ``exit_code``; anything else
is a bug and is reported as such (exit 3) without leaking locals.
"""

from __future__ import annotations


class SpecrunnerError(Exception):
    """A failure the user can act on. ``str(e)`` is the one-line message."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ManifestError(SpecrunnerError):
    """The manifest cannot be read or is invalid. ``diagnostics`` holds every problem found."""

    def __init__(self, message: str, diagnostics: list | None = None, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.diagnostics = diagnostics or []


class StateError(SpecrunnerError):
    """The state file is unreadable, corrupt, from another lineage or a newer version."""


class StateWriteError(SpecrunnerError):
    """Writing the state failed; the state was dumped to an errored file."""


class PlanError(SpecrunnerError):
    """A saved plan cannot be applied (stale, wrong manifest, unreadable)."""


class LockError(SpecrunnerError):
    """The state is locked by another run."""


class BackendError(SpecrunnerError):
    """An error from a backend (the local engine or the MTS service).

    ``code`` is the service's error code (e.g. ``Throttling.User``), ``request_id`` its RequestId.
    """

    transient = False

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        http_status: int | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.http_status = http_status
        self.request_id = request_id


class TransientBackendError(BackendError):
    """Worth retrying: throttling, 5xx, InternalError, ServiceUnavailable, transport errors."""

    transient = True

    @property
    def throttled(self) -> bool:
        return self.code.startswith("Throttling") or self.http_status == 429


class UncertainSubmitError(TransientBackendError):
    """A Submit whose answer was lost: the job may or may not exist on the service.

    Never resubmit blindly after this: look the job up by its intent tag first.
    """


class PermanentBackendError(BackendError):
    """Not worth retrying: bad parameters, bad credentials, permission denied, ..."""


class CredentialsError(PermanentBackendError):
    """No usable credentials were found."""


class Interrupted(SpecrunnerError):
    """The run was interrupted by SIGINT / SIGTERM after persisting what it had."""

    exit_code = 130
