"""``specrunner emulator``: serve an MTS-compatible HTTP endpoint over a local folder.

Loaded at CLI start: module-level imports are stdlib + typer only; the server is imported on use.

No ``from __future__ import annotations`` (as in ``cli.main``): typer reads the annotations of every
command at each start; as strings, each one is compiled and evaluated again (~4 ms of every start).
"""

import os
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer


def _keys(values: list[str] | None) -> dict[str, str]:
    keys: dict[str, str] = {}
    for v in values or []:
        key_id, sep, secret = v.partition(":")
        if not sep or not key_id or not secret:
            typer.echo("error: --key must be ID:SECRET (e.g. --key testAK:testSecret)", err=True)
            raise typer.Exit(1)
        keys[key_id] = secret
    if not keys:
        ak = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "").strip()
        sk = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "").strip()
        if ak and sk:
            keys[ak] = sk
    if not keys:
        typer.echo(
            "error: no keys: pass --key ID:SECRET (repeatable) or set ALIBABA_CLOUD_ACCESS_KEY_ID and "
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
            err=True,
        )
        raise typer.Exit(1)
    return keys


def emulator(
    root: Annotated[
        Path, typer.Option("--root", help="Folder whose subfolders are the buckets (a target.root).")
    ] = Path("./oss"),
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any free port).")
    ] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            help="An accepted AccessKey as ID:SECRET. Repeatable. "
            "Default: ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET.",
            show_default=False,
        ),
    ] = None,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, help="Added latency per request.")
    ] = 0.0,
    throttle_submit_qps: Annotated[
        float | None,
        typer.Option(
            "--throttle-submit-qps", min=0.001, help="Answer Throttling.User above this Submit rate."
        ),
    ] = None,
    throttle_query_qps: Annotated[
        float | None,
        typer.Option("--throttle-query-qps", min=0.001, help="Answer Throttling.User above this Query rate."),
    ] = None,
    error_rate: Annotated[
        float,
        typer.Option(
            "--error-rate",
            min=0.0,
            max=1.0,
            help="Fraction of requests answered 500/503 before doing anything.",
        ),
    ] = 0.0,
    drop_rate: Annotated[
        float,
        typer.Option(
            "--drop-rate",
            min=0.0,
            max=1.0,
            help="Fraction of Submits whose job is created but whose answer is dropped (connection closed).",
        ),
    ] = 0.0,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for the fault injection.")] = None,
    journal: Annotated[
        Path | None,
        typer.Option(
            "--journal",
            help="Append every request as a JSON line to this file (no signatures, key ids or tokens).",
        ),
    ] = None,
    simulate: Annotated[
        bool,
        typer.Option(
            "--simulate",
            help="Do not decode video: async jobs succeed after --simulate-seconds (benchmarks).",
        ),
    ] = False,
    simulate_seconds: Annotated[
        float,
        typer.Option("--simulate-seconds", min=0.0, help="With --simulate: seconds from Submit to Success."),
    ] = 0.0,
    region: Annotated[
        str | None,
        typer.Option(
            "--region",
            help="The endpoint's MTS region: buckets elsewhere are refused. Default: each request's "
            "RegionId.",
            show_default=False,
        ),
    ] = None,
    answers: Annotated[
        str,
        typer.Option(
            "--answers",
            help="full: every field; documented: as lean as the documented sample answers "
            "(no Count, TileCount or Input); documented-2021: as the 2021 pages' samples (flat lists, "
            "bare job codes such as ResourceContentBad).",
        ),
    ] = "full",
    not_found_seconds: Annotated[
        float,
        typer.Option(
            "--not-found-seconds",
            min=0.0,
            help="A new job id is reported non-existent by queries for this long (eventual consistency).",
        ),
    ] = 0.0,
    oss_error_rate: Annotated[
        float,
        typer.Option("--oss-error-rate", min=0.0, max=1.0, help="Fraction of OSS object calls answered 503."),
    ] = 0.0,
    oss_drop_rate: Annotated[
        float,
        typer.Option(
            "--oss-drop-rate",
            min=0.0,
            max=1.0,
            help="Fraction of OSS object writes done but whose answer is dropped.",
        ),
    ] = 0.0,
    deny_list: Annotated[
        list[str] | None,
        typer.Option(
            "--deny-list",
            metavar="BUCKET",
            help="Answer ListObjectsV2 on this bucket 403 AccessDenied (no oss:ListObjects). Repeatable.",
        ),
    ] = None,
    delete_deny: Annotated[
        list[str] | None,
        typer.Option(
            "--delete-deny",
            metavar="BUCKET/PREFIX",
            help="Refuse to delete the objects under this prefix (no oss:DeleteObject): DeleteObject "
            "answers 403 AccessDenied, DeleteMultipleObjects reports them not deleted. Repeatable.",
        ),
    ] = None,
) -> None:
    """Serve SubmitSnapshotJob / QuerySnapshotJobList like Alibaba Cloud MTS, over a local folder.

    The real aliyun SDK talks to it unchanged (signature v1), and so does the newer Tea/OpenAPI SDK
    alibabacloud-mts20140618 (ACS3-HMAC-SHA256 in headers); point the aliyun backend at it with
    SPECRUNNER_MTS_ENDPOINT. The same port also serves OSS ListObjectsV2 over the root's bucket
    folders (oss2, signature V1), for input discovery ({prefix, match} inputs) and the refresh of
    plan and apply (the recorded outputs and inputs), and the OSS object calls a remote state and
    prune need: set SPECRUNNER_OSS_ENDPOINT to the same URL.
    Runs until Ctrl-C or SIGTERM.

    Example: specrunner emulator --root specs/oss --key testAK:testSecret --port 8765

    Then, in another shell: export SPECRUNNER_MTS_ENDPOINT=http://127.0.0.1:8765
    SPECRUNNER_OSS_ENDPOINT=http://127.0.0.1:8765 ALIBABA_CLOUD_ACCESS_KEY_ID=testAK
    ALIBABA_CLOUD_ACCESS_KEY_SECRET=testSecret; specrunner apply specs/site.yaml (a manifest with
    target.backend: aliyun).
    """
    keys = _keys(key)
    from specrunner.emulator.documented import ANSWER_STYLES

    if answers not in ANSWER_STYLES:
        typer.echo(f"error: --answers must be one of {', '.join(ANSWER_STYLES)}, got {answers!r}", err=True)
        raise typer.Exit(1)
    from specrunner.emulator.server import Emulator

    em = Emulator(
        root,
        keys,
        latency_ms=latency_ms,
        throttle_submit_qps=throttle_submit_qps,
        throttle_query_qps=throttle_query_qps,
        error_rate=error_rate,
        drop_rate=drop_rate,
        seed=seed,
        journal=journal,
        simulate=simulate,
        simulate_seconds=simulate_seconds,
        host=host,
        port=port,
        region=region,
        answers=answers,
        not_found_seconds=not_found_seconds,
        oss_error_rate=oss_error_rate,
        oss_drop_rate=oss_drop_rate,
        deny_list=deny_list or (),
        delete_deny=delete_deny or (),
    )
    try:
        em.start()
    except OSError as e:
        typer.echo(f"error: cannot listen on {host}:{port}: {e.strerror or e}", err=True)
        raise typer.Exit(1) from None
    done = threading.Event()

    def stop(signum: int, frame: object) -> None:
        done.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    mode = ", simulated jobs" if simulate else ""
    typer.echo(
        f"MTS emulator listening on {em.url} (root {root}{mode}; OSS ListObjectsV2 on the same URL: "
        "SPECRUNNER_MTS_ENDPOINT and SPECRUNNER_OSS_ENDPOINT)"
    )
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:  # pragma: no cover - signal handler normally catches it
        pass
    finally:
        em.stop()
    typer.echo("MTS emulator stopped.")
