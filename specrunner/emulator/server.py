"""The emulator as one Python object: it composes the parts, starts and stops the HTTP server.

An MTS-compatible endpoint over the local engine, with the OSS calls that input discovery and
remote state need, on one port (so SPECRUNNER_OSS_ENDPOINT can be the same URL as
SPECRUNNER_MTS_ENDPOINT). The parts, one concern each:

- ``http_front``: request parsing, the MTS / OSS split, answer writing;
- ``mts_endpoint``: one MTS RPC request (journal, authentication in ``mts_auth``, faults, errors);
  ``mts_actions``: SubmitSnapshotJob / QuerySnapshotJobList and the documented rules
  (``documented``); ``mts_simulate``: simulate mode, a job table instead of the engine;
- ``oss_objects``: Put (forbid-overwrite), Get, Head, Delete, Append (``oss_store``: on disk);
  ``oss_batchdelete``: DeleteMultipleObjects; ``oss_listing``: ListObjectsV2; ``oss_auth``: OSS
  signature V1;
- ``faults``: latency, throttling, injected errors and dropped answers; ``journal``: every request
  as one JSON line, without signatures, key ids or tokens.

``simulate=True`` keeps an in-memory job table instead of running the engine: inputs are validated as
the service does but no video is decoded; async jobs go Submitted -> Snapshoting -> Success after
``simulate_seconds`` with Count = Num (or 1). It is for benchmarks of the runner itself.

Invariants: the simulated job table, the jobs' submit times, the nonces, the fault draws and the ETag
cache live as long as the object; the engine, the journal and the server live from ``start()`` to
``stop()``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from specrunner.emulator.faults import Faults
from specrunner.emulator.http_front import FrontServer, front_server
from specrunner.emulator.journal import Journal
from specrunner.emulator.mts_actions import MtsActions
from specrunner.emulator.mts_auth import NonceCache
from specrunner.emulator.mts_endpoint import MtsEndpoint
from specrunner.emulator.mts_protocol import Answer
from specrunner.emulator.mts_simulate import SimulatedJobs
from specrunner.emulator.oss_batchdelete import handle_batch_delete
from specrunner.emulator.oss_listing import EtagCache, handle_listing
from specrunner.emulator.oss_objects import handle_object
from specrunner.emulator.oss_protocol import OssAnswer, OssSite
from specrunner.engine.service import SnapshotService


class Emulator:
    """The emulator, as a Python object: ``start()`` serves on a background thread, ``stop()`` ends it.

    ``keys`` maps AccessKeyId -> AccessKeySecret. ``url`` is ``http://host:port`` once started;
    ``requests()`` returns the journal entries; ``faults`` holds the fault knobs (they may be changed
    while it runs). Usable as a context manager.
    """

    def __init__(
        self,
        root: Path,
        keys: dict[str, str],
        *,
        latency_ms: float = 0,
        throttle_submit_qps: float | None = None,
        throttle_query_qps: float | None = None,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        oss_error_rate: float = 0.0,
        oss_drop_rate: float = 0.0,
        seed: int | None = None,
        journal: Path | None = None,
        simulate: bool = False,
        simulate_seconds: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        sync_timeout: float = 6.0,
        region: str | None = None,
        answers: str = "full",
        not_found_seconds: float = 0.0,
        deny_list: Iterable[str] = (),
        delete_deny: Iterable[str] = (),
    ) -> None:
        if not keys:
            raise ValueError("the emulator needs at least one AccessKeyId -> secret")
        self.faults = Faults(
            latency_ms=latency_ms,
            throttle_submit_qps=throttle_submit_qps,
            throttle_query_qps=throttle_query_qps,
            error_rate=error_rate,
            drop_rate=drop_rate,
            oss_error_rate=oss_error_rate,
            oss_drop_rate=oss_drop_rate,
            deny_list=frozenset(deny_list),
            delete_deny=frozenset(delete_deny),
            seed=seed,
        )
        self.root = Path(root)
        self._keys = dict(keys)
        self.simulate = simulate
        self.host, self.port = host, port
        self.sync_timeout = sync_timeout
        # The documented rules (emulator/documented.py): the endpoint's region (None: the request's
        # RegionId), the answer style ("documented": as lean as the documented samples), and how long
        # a new job id stays unknown to QuerySnapshotJobList (eventual consistency).
        self.actions = MtsActions(region=region, answers=answers, not_found_seconds=not_found_seconds)
        self._nonces = NonceCache()
        self._sim = SimulatedJobs(self.root, simulate_seconds) if simulate else None
        self._etags = EtagCache()
        self._journal_path = journal
        self.journal: Journal | None = None
        self._service: SnapshotService | None = None
        self._mts: MtsEndpoint | None = None
        self._oss: OssSite | None = None
        self._server: FrontServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        if self._sim is None:
            self._service = SnapshotService(self.root, sync_timeout=self.sync_timeout)
        jobs = self._sim if self._sim is not None else self._service
        assert jobs is not None
        journal = self.journal = Journal(self._journal_path)
        self._mts = MtsEndpoint(
            keys=self._keys,
            nonces=self._nonces,
            faults=self.faults,
            actions=self.actions,
            jobs=jobs,
            journal=journal,
        )
        self._server = front_server(self.host, self.port, self)
        self.port = self._server.server_address[1]
        self._oss = OssSite(self.root, self._keys, self.faults, journal, f"{self.host}:{self.port}")
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="mts-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._service is not None:
            self._service.close()
        if self.journal is not None:
            self.journal.close()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def service(self) -> SnapshotService | None:
        return self._service

    def requests(self) -> list[dict[str, Any]]:
        return self.journal.entries() if self.journal is not None else []

    def drain(self, timeout: float = 60.0) -> None:
        """Wait for the engine's async work (real mode)."""
        if self._service is not None:
            self._service.drain(timeout)

    # ------------------------------------------------------------------ what the HTTP front serves

    def handle_mts(
        self,
        method: str,
        path: str,
        items: list[tuple[str, str]],
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> Answer:
        assert self._mts is not None
        return self._mts.handle(method, path, items, headers, body)

    def handle_oss_object(
        self, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes
    ) -> OssAnswer:
        assert self._oss is not None
        return handle_object(self._oss, method, path, query, headers, body)

    def handle_oss_listing(
        self, method: str, path: str, query: str, headers: list[tuple[str, str]]
    ) -> OssAnswer:
        assert self._oss is not None
        return handle_listing(self._oss, self._etags, method, path, query, headers)

    def handle_oss_batch_delete(
        self, path: str, query: str, headers: list[tuple[str, str]], body: bytes
    ) -> OssAnswer:
        assert self._oss is not None
        return handle_batch_delete(self._oss, path, query, headers, body)
