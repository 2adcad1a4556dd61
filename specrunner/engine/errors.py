"""The engine's errors, each with the MTS error code the service reports for it.

:class:`VideoError` and its kinds come from cutting a video (the job fails with ``code``);
:class:`ServiceError` is a refused API request (the emulator turns it into an HTTP error).
"""

from __future__ import annotations


class VideoError(Exception):
    """A snapshot cannot be taken from this file. ``code`` is the MTS error code to report."""

    code = "InternalError"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class VideoNotFound(VideoError):
    """The input file does not exist."""

    code = "InvalidParameter.ResourceNotFound"


class VideoContentBad(VideoError):
    """Not a video, no video stream, undecodable, or the config does not fit the file."""

    code = "InvalidParameter.ResourceContentBad"


class SnapshotTimeout(VideoError):
    """The deadline passed while cutting."""

    code = "SnapshotTimeOut"


class ServiceError(Exception):
    """An API error: ``code`` as the service spells it, ``status`` the HTTP status it comes with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
