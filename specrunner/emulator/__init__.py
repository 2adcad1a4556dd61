"""An MTS-compatible HTTP emulator: SubmitSnapshotJob / QuerySnapshotJobList over the local engine.

The real ``aliyun-python-sdk-mts`` talks to it unchanged (signature v1, the service's error shapes),
so the ``aliyun`` backend can be tested end to end on 127.0.0.1; the same port serves the OSS calls
input discovery and remote state need. ``server.Emulator`` composes the parts (its docstring lists
them). ``Emulator`` is imported lazily: ``specrunner.cli.main.emulator`` is loaded at CLI start and
must stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from specrunner.emulator.server import Emulator

__all__ = ["Emulator"]


def __getattr__(name: str) -> Any:
    if name == "Emulator":
        from specrunner.emulator.server import Emulator

        return Emulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
