"""The crash harness: SIGKILL `specrunner apply` at random moments against the emulator, rerun until
done, and check from the emulator's journal that nothing was doubled and nothing was lost.

Figures: kills, duplicate jobs (more than one job created for one job key), lost job ids (created on
the service but missing from the final lock file), corrupt lock files (unreadable after a kill).

    python -m specrunner.testing.crash --kills 100 --seed 1
    python -m specrunner.testing.crash --kills 100 --remote   # ephemeral runners, state in OSS

``remote=True`` is the ephemeral-runner variant: every run starts in a fresh, empty folder holding only
the manifest (a CI runner's checkout), the state, its journal and its lock live in OSS on the emulator
(with ``oss_error_rate`` 5xx answers), and the next run waits for a killed run's lease
(``SPECRUNNER_LOCK_LEASE``) to expire before it takes the lock over.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from specrunner.core.errors import SpecrunnerError
from specrunner.emulator.server import Emulator
from specrunner.statefile.doc import StateDoc
from specrunner.statefile.journal import read_state
from specrunner.statefile.ossobjects import OssState
from specrunner.statefile.remotejournal import read_remote

AK, SECRET = "crashAK", "crash-secret"


@dataclass
class Figures:
    kills: int = 0
    runs: int = 0
    jobs: int = 0
    created: int = 0
    duplicates: int = 0
    lost: int = 0
    corrupt: int = 0
    adopted: int = 0
    finished: bool = False


def manifest(n_inputs: int) -> str:
    inputs = "\n".join(f"  - v/{i:03d}.mp4" for i in range(n_inputs))
    return f"""version: 1
target: {{backend: aliyun, region: cn-shanghai, qps: {{submit: 400, query: 400}},
         pipeline_id: c0ffee00c0ffee00c0ffee00c0ffee00}}
defaults: {{location: oss-cn-shanghai, input_bucket: media-in, output_bucket: media-out}}
inputs:
{inputs}
rules:
  - {{id: poster, time: 1s, output: "p/{{FileName}}.jpg"}}
  - {{id: seq, time: 0, num: 3, interval: 1, output: "s/{{FileName}}/{{Count}}.jpg"}}
"""


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALIBABA_CLOUD_", "ALIYUN_"))}
    env.update(
        SPECRUNNER_MTS_ENDPOINT=url,
        # OSS too: apply lists the recorded outputs and inputs (the refresh), and the emulator's
        # simulated jobs write their outputs into its buckets.
        SPECRUNNER_OSS_ENDPOINT=url,
        ALIBABA_CLOUD_ACCESS_KEY_ID=AK,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=SECRET,
        # The emulator creates a job before it drops an answer, so a short grace is exact for
        # it (the real service gets the read timeout); short, not zero, to exercise the wait.
        SPECRUNNER_UNCERTAIN_GRACE="0.5",
    )
    return env


STATE_BLOCK = "state: {backend: oss, bucket: team-state, key: ci/m.lock.json, location: oss-cn-hangzhou}\n"


def run(
    workdir: Path,
    *,
    kills: int,
    seed: int,
    n_inputs: int = 30,
    latency_ms: float = 15,
    drop_rate: float = 0.05,
    min_delay: float = 0.3,
    max_delay: float = 1.6,
    log: bool = False,
    remote: bool = False,
    oss_error_rate: float = 0.05,
    lease: float = 2.0,
) -> Figures:
    """One round: kill `apply` up to ``kills`` times at random moments, then let it finish."""
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    mtext = manifest(n_inputs)
    if remote:
        mtext = mtext.replace("inputs:\n", STATE_BLOCK + "inputs:\n", 1)
        (workdir / "oss" / "team-state").mkdir(parents=True, exist_ok=True)
    (workdir / "m.yaml").write_text(mtext)
    state = workdir / "m.lock.json"
    fig = Figures(jobs=n_inputs * 2)
    with Emulator(
        workdir / "oss",
        {AK: SECRET},
        latency_ms=latency_ms,
        drop_rate=drop_rate,
        seed=seed,
        simulate=True,
        simulate_seconds=0.3,
        journal=workdir / "emulator.jsonl",
    ) as emu:
        env = _env(emu.url)
        cmd = [
            sys.executable,
            "-m",
            "specrunner",
            "apply",
            "m.yaml",
            "--parallelism",
            "4",
            "--quiet",
            "--auto-approve",
        ]
        read: Callable[[], StateDoc | None] = lambda: read_state(state)  # noqa: E731
        if remote:
            emu.faults.oss_error_rate = oss_error_rate
            env.update(SPECRUNNER_OSS_ENDPOINT=emu.url, SPECRUNNER_LOCK_LEASE=str(lease))
            cmd += ["--lock-timeout", str(lease * 10)]
            read = lambda: _read_remote(env)  # noqa: E731
        while True:
            cwd = workdir
            if remote:  # a fresh runner: an empty folder with the manifest only
                cwd = workdir / "runners" / f"{fig.runs:03d}"
                cwd.mkdir(parents=True)
                (cwd / "m.yaml").write_text(mtext)
            proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            fig.runs += 1
            if fig.kills < kills:
                delay = rng.uniform(min_delay, max_delay)
                if remote and fig.runs > 1:
                    delay += lease  # a killed run's lease runs out first: kill this one while it works
                try:
                    proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    fig.kills += 1
            out, err = proc.communicate()
            text = out.decode() + err.decode()
            if "Traceback" in text:
                raise AssertionError(f"traceback from apply:\n{text}")
            try:
                read()  # valid after every run and every kill (journal included)
            except SpecrunnerError:
                fig.corrupt += 1
            if log:
                print(
                    f"run {fig.runs}: exit {proc.returncode} kills {fig.kills}: {text.strip()[-300:]}",
                    flush=True,
                )
            if fig.runs > kills + 50:
                raise AssertionError(f"apply never finished after {fig.runs} runs:\n{text}")
            if proc.returncode == 0:
                fig.finished = True
                break
            elif proc.returncode not in (-9, 1, 3, 4):
                raise AssertionError(f"apply exited {proc.returncode}:\n{text}")
        entries = emu.requests()
        doc = read()
    created: Counter[str] = Counter()
    ids: set[str] = set()
    for e in entries:
        if e["action"] == "SubmitSnapshotJob" and e.get("job_id"):
            p = e["params"]
            created[p["Input"] + "|" + p["SnapshotConfig"]] += 1
            ids.add(e["job_id"])
    recorded = {r.job_id for r in (doc.jobs.values() if doc else [])}
    fig.created = sum(created.values())
    fig.duplicates = sum(n - 1 for n in created.values() if n > 1)
    fig.lost = len(ids - recorded)
    fig.adopted = sum(
        1 for e in entries if e["action"] == "QuerySnapshotJobList" and not e["params"].get("SnapshotJobIds")
    )  # listing calls: tag lookups
    return fig


def _read_remote(env: dict[str, str]) -> StateDoc | None:
    from unittest import mock

    with mock.patch.dict(os.environ, env):
        return read_remote(OssState("team-state", "ci/m.lock.json", "oss-cn-hangzhou"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--inputs", type=int, default=30)
    ap.add_argument("--remote", action="store_true", help="ephemeral runners, state in OSS (5%% OSS 5xx)")
    args = ap.parse_args(argv)
    total = Figures()
    seed = args.seed
    while total.kills < args.kills:
        with tempfile.TemporaryDirectory() as tmp:
            fig = run(
                Path(tmp),
                kills=min(10, args.kills - total.kills),
                seed=seed,
                n_inputs=args.inputs,
                remote=args.remote,
            )
        if not fig.finished:
            total.corrupt += 1  # never finished: counted as a failure
        for k in ("kills", "runs", "jobs", "created", "duplicates", "lost", "corrupt"):
            setattr(total, k, getattr(total, k) + getattr(fig, k))
        print(f"seed {seed}: {json.dumps(asdict(fig))}", flush=True)
        seed += 1
    print(
        f"crash harness: {total.kills} kills, {total.runs} runs, {total.duplicates} duplicates, "
        f"{total.lost} lost job ids, {total.corrupt} corrupt lock files"
    )
    return 0 if not (total.duplicates or total.lost or total.corrupt) else 1


if __name__ == "__main__":
    sys.exit(main())
