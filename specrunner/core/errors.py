"""The project's error model: one user-facing base, one top-level handler.

Every error a user can cause or meet derives from :class:`SpecrunnerError` and carries its exit
code. One handler (``specrunner.cli.exits``) maps every exception to an exit code and
prints it: ``error: <message>`` (one line, plus an optional ``hint:`` line) with the error's
``exit_code``; a usage error (unknown option, missing argument) exits 1; Ctrl-C exits 130; anything
else is a bug: one line saying so and naming the file that holds the traceback (no locals), exit 70.

The exit codes below are the README's table; nothing else in the code base invents one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from specrunner.core.diagnostics import Diagnostic

EXIT_OK = 0
EXIT_ERROR = 1  # bad input, refused, usage error, fatal backend error
EXIT_CHANGES = 2  # plan --detailed-exitcode: there are changes
EXIT_FAILED = 3  # a run finished, at least one job ended Fail
EXIT_PENDING = 4  # a run finished, some jobs still running or unresolved
EXIT_BUG = 70  # an unexpected error inside specrunner (sysexits' EX_SOFTWARE)
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM


class SpecrunnerError(Exception):
    """A failure the user can act on. ``str(e)`` is the one-line message."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ManifestError(SpecrunnerError):
    """The manifest cannot be read or is invalid. ``diagnostics`` holds every problem found."""

    def __init__(
        self, message: str, diagnostics: list[Diagnostic] | None = None, *, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.diagnostics = diagnostics or []


class StateError(SpecrunnerError):
    """The state file is unreadable, corrupt, from another lineage or a newer version."""


class StateWriteError(SpecrunnerError):
    """Writing the state failed; the state was dumped to an errored file."""


class LeaseLost(StateWriteError):
    """This run may no longer submit: its lock's lease lapsed, was taken over or was revoked."""


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


class ApprovalError(SpecrunnerError):
    """An apply that needs a reviewer's ``yes`` did not get it (declined, or no terminal to ask)."""
