"""The MTS RPC protocol's shapes, as the service spells them (see the research notes, sections 2-5).

- ``Version=2014-06-18`` and the two served actions (``ACTIONS``); at most ``MAX_QUERY_IDS`` ids per
  query;
- an error is an :class:`ApiError` (``code``, ``message``, HTTP status), answered as a non-2xx
  ``{RequestId, HostId, Code, Message}`` body;
- an :class:`Answer` is a status and a JSON body, or a dropped answer (the connection is closed);
- every scalar in an answer is a string, numbers in arrays excepted (:func:`stringify`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

VERSION = "2014-06-18"
ACTIONS = ("SubmitSnapshotJob", "QuerySnapshotJobList")
MAX_QUERY_IDS = 10


class ApiError(Exception):
    """An error answer: ``code`` and ``message`` as the service spells them, with its HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def missing(name: str) -> ApiError:
    """The error for a mandatory parameter that was not sent."""
    return ApiError(
        "MissingParameter",
        f'The input parameter "{name}" that is mandatory for processing this request is not supplied.',
    )


def api_not_found() -> ApiError:
    """The error for an unknown path, action or version."""
    return ApiError(
        "InvalidApi.NotFound", "Specified api is not found, please check your url and method.", 404
    )


@dataclass
class Answer:
    """One MTS answer: ``drop`` means the work is done but the client never hears about it."""

    status: int
    body: dict[str, Any]
    drop: bool = False


def stringify(value: Any) -> Any:
    """Every scalar a string, as the service answers (booleans as true/false, None as ""); an array
    stays an array and its numbers stay numbers (``TimePointList`` is a list of integers in the SDK
    models), so a request's arrays are echoed as they were sent."""
    if isinstance(value, dict):
        return {str(k): stringify(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [v if isinstance(v, int | float) and not isinstance(v, bool) else stringify(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)
