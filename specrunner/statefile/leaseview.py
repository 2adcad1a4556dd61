"""Reading the lock of a remote state (``lease.py`` holds and takes it): the lease's settings and
clock, one generation's lock and lease lines as observed (:class:`LeaseView`), and the newest
generation (``K.head`` checked against the lock objects, probed and listed: an implausible head or
missing lock objects are an error whose way out is ``state repair``, never a new lineage).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from specrunner.core.errors import LockError, StateError
from specrunner.statefile.locking import describe
from specrunner.statefile.ossobjects import Objects

LEASE_ENV = "SPECRUNNER_LOCK_LEASE"


DEFAULT_LEASE = 60.0


MARGIN = 0.25  # of the lease: the holder stops submitting this early


PROBE_STEPS = 64  # generations probed one by one before a listing is asked


LEASE_FORMAT = 2


_CLOCK = getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC)


def clock() -> float:
    """Seconds on a clock that keeps counting while the machine is suspended (Linux CLOCK_BOOTTIME)."""
    return time.clock_gettime(_CLOCK)


def lease_seconds() -> float:
    raw = os.environ.get(LEASE_ENV, "").strip()
    if not raw:
        return DEFAULT_LEASE
    try:
        v = float(raw)
    except ValueError:
        v = -1.0
    if not 1.0 <= v <= 3600.0:
        raise LockError(f"{LEASE_ENV}={raw!r}: the lock lease must be a number of seconds in [1, 3600]")
    return v


def now_iso(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json(data: bytes | None) -> dict[str, Any] | None:
    try:
        v = json.loads(data) if data else None
    except ValueError:
        return None
    return v if isinstance(v, dict) else None


def _lines(data: bytes) -> list[dict[str, Any]]:
    out = []
    for raw in data.split(b"\n"):
        v = _json(raw)
        if v is not None:
            out.append(v)
    return out


def repair_hint() -> str:
    return (
        "run `specrunner state repair MANIFEST`: it keeps every job id the journals hold and "
        "continues above the newest generation (nothing is submitted again)"
    )


@dataclass
class LeaseView:
    """Generation ``gen``'s lock as one read saw it."""

    gen: int
    info: dict[str, Any]
    data: bytes | None  # the lease object (None: not created yet)
    kind: str = "Appendable"
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def signature(self) -> tuple[bool, str, int, bytes]:
        """Equal between two reads only when nobody wrote to the lease object in between (an
        appendable object only grows; a PUT-renewed one of older versions changes its bytes)."""
        d = self.data or b""
        return (self.data is not None, self.kind, len(d), d[-256:])

    def _has(self, mark: str) -> dict[str, Any] | None:
        return next((x for x in reversed(self.lines) if x.get(mark)), None)

    @property
    def released(self) -> bool:
        return self._has("released") is not None

    @property
    def stopped(self) -> bool:
        return self._has("stopped") is not None

    @property
    def lapsed(self) -> bool:
        return self._has("lapsed") is not None

    @property
    def revoked(self) -> dict[str, Any] | None:
        return self._has("revoked")

    @property
    def takeable(self) -> bool:
        """No Submit of its holder can leave any more: the next generation may be taken at once."""
        return self.released or self.stopped or self.lapsed

    @property
    def lease(self) -> float:
        v = self.info.get("lease_seconds")
        return float(v) if isinstance(v, (int, float)) and 1.0 <= v <= 3600.0 else DEFAULT_LEASE

    @property
    def expires(self) -> float:
        """The holder's own statement of when its lease ends, on *its* wall clock."""
        for src in (*reversed(self.lines), self.info):
            v = src.get("expires_unix")
            if isinstance(v, (int, float)):
                return float(v)
        return 0.0

    def live(self) -> bool:
        """Looks held by this machine's wall clock (a hint only: never decides a takeover)."""
        return not self.takeable and time.time() < self.expires

    def describe(self) -> str:

        left = self.expires - time.time()
        when = f"in {left:.0f} s" if left >= 0 else f"{-left:.0f} s ago"
        return (
            f"{describe(self.info)}; its lease expires at {now_iso(self.expires)} ({when} by this "
            "machine's clock) unless renewed"
        )


def read_lock(objs: Objects, gen: int) -> LeaseView | None:
    if gen <= 0:
        return None
    got: list[tuple[bytes, str] | None] = []
    t = threading.Thread(target=lambda: got.append(objs.get_typed(objs.loc.lease_key(gen))), daemon=True)
    t.start()  # both reads at once: one round trip instead of two
    try:
        raw = objs.get(objs.loc.lock_key(gen))
    finally:
        t.join()
    if not got:  # the read failed: read it here, to raise its error
        got.append(objs.get_typed(objs.loc.lease_key(gen)))
    if raw is None:
        return None
    lease = got[0]
    if lease is None:
        return LeaseView(gen, _json(raw) or {}, None)
    data, kind = lease
    return LeaseView(gen, _json(raw) or {}, data, kind, _lines(data))


def _gen_of(key: str, prefix: str) -> int | None:
    rest = key[len(prefix) :]
    return int(rest) if len(rest) == 12 and rest.isdigit() else None


def _listed_max(objs: Objects, prefix: str, after: str) -> int | None:
    """The highest generation listed under ``prefix`` above ``after`` (None: none, or no listing)."""
    best: int | None = None
    start = after
    for _ in range(1000):  # 1,000 pages of 1,000 keys: far beyond any real state
        keys = objs.keys_after(prefix, start, 1000)
        if not keys:
            return best
        for k in keys:
            g = _gen_of(k, prefix)
            if g is not None:
                best = g if best is None else max(best, g)
        start = keys[-1]
    return best


def latest_generation(objs: Objects, *, repair: bool = False) -> int:
    """The newest lock generation. A head that names no lock, or journals above the newest lock
    (lock objects or the head deleted or restored by hand) are errors: carrying on would start a new
    lineage and submit every recorded job again. ``repair`` continues above everything found."""
    loc = objs.loc
    raw = objs.get(loc.head_key)
    g: int | None = 0
    if raw is not None:
        text = raw.decode("ascii", "replace").strip()
        plausible = text.isdigit() and len(text) <= 12
        if not plausible or (int(text) > 0 and not objs.exists(loc.lock_key(int(text)))):
            if not repair:
                raise StateError(
                    f"{loc.url}: {loc.head_key} holds {text[:40]!r}, which names no lock generation "
                    "(edited or restored by hand?)",
                    hint=repair_hint(),
                )
            g = None
        else:
            g = int(text)
    if g is None:
        g = max(_listed_max(objs, f"{loc.key}.lock/", "") or 0, 0)
        g = max(g, _listed_max(objs, f"{loc.key}.journal/", "") or 0)
    steps = 0
    while objs.exists(loc.lock_key(g + 1)):
        g += 1
        steps += 1
        if steps % PROBE_STEPS == 0:  # the head lags far behind: ask a listing
            g = max(g, _listed_max(objs, f"{loc.key}.lock/", loc.lock_key(g)) or g)
    for _ in range(5):
        above = objs.keys_after(f"{loc.key}.journal/", loc.journal_key(g), 10)
        if above is None:  # listing not allowed: probe the next journal
            above = [loc.journal_key(g + 1)] if objs.exists(loc.journal_key(g + 1)) else []
        gens = [x for x in (_gen_of(k, f"{loc.key}.journal/") for k in above) if x is not None and x > g]
        if not gens:
            return g
        if objs.exists(loc.lock_key(g + 1)):  # a new holder, just now: probe on
            while objs.exists(loc.lock_key(g + 1)):
                g += 1
            continue
        if repair:
            return max(g, _listed_max(objs, f"{loc.key}.journal/", loc.journal_key(g)) or max(gens))
        raise StateError(
            f"{loc.url}: the journal {loc.journal_key(min(gens))} exists but no lock of its generation "
            f"(the newest lock is {g}): lock objects or {loc.head_key} were deleted or restored by hand",
            hint=repair_hint(),
        )
    return g
