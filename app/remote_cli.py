"""``designer jobs``: submit, inspect and follow jobs of a remote design-job service, fetch artifacts.

Registered through the ``designer.commands`` entry-point group. Talks plain HTTP (httpx): follows
a job over Server-Sent Events, resuming with ``Last-Event-ID`` after a dropped connection, and
falls back to polling ``GET /v1/design-jobs/{id}`` when the stream is unavailable. Progress is a
tqdm bar on a terminal and plain lines otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Iterator

JOBS_EXAMPLE = """examples:
  designer jobs submit '{"kind":"design","target":{"kind":"l1"},"shape":[32]}' --follow
  designer jobs follow job_0123456789abcdef01234567 --url http://lab-server:8000 --token $TOKEN
  designer jobs get job_0123456789abcdef01234567

The server and token default to $DESIGNER_URL (else http://127.0.0.1:8000) and $DESIGNER_TOKEN
(none: single-user mode)."""

FOLLOW_EXAMPLE = """example:
  designer jobs follow job_0123456789abcdef01234567 --url http://lab-server:8000 --token $TOKEN

Prints progress (a bar on a terminal, lines otherwise), then the final job as JSON on stdout.
Exit status: 0 succeeded, 1 failed or cancelled, 2 bad request (unknown job, bad token)."""

SUBMIT_EXAMPLE = """example:
  designer jobs submit '{"kind":"design","target":{"kind":"l1"},"shape":[32]}' --follow
  designer jobs submit @job.json --url http://lab-server:8000 --token $TOKEN"""

GET_EXAMPLE = """example:
  designer jobs get job_0123456789abcdef01234567 --url http://lab-server:8000 --token $TOKEN"""

ARTIFACT_EXAMPLE = """example:
  designer jobs artifact job_0123456789abcdef01234567 parameterization_torch.py --out parameterization.py
  designer jobs artifact job_0123456789abcdef01234567 design.png --out design.png

A job's artifacts are listed by 'designer jobs get ID'; a succeeded design job has result.json,
design.png, parameterization_torch.py and parameterization_jax.py (see 'designer export')."""

TERMINAL = ("succeeded", "failed", "cancelled")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=os.environ.get("DESIGNER_URL", "http://127.0.0.1:8000"),
                        help="base URL of the service (default: $DESIGNER_URL or http://127.0.0.1:8000)")
    parser.add_argument("--token", default=os.environ.get("DESIGNER_TOKEN"),
                        help="API token (default: $DESIGNER_TOKEN; none in single-user mode)")


def _follow_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="interval of the polling fallback")
    parser.add_argument("--no-sse", action="store_true", help="poll instead of following the event stream")
    parser.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")


def register_jobs(subparsers) -> None:
    """Add ``designer jobs submit|get|follow|artifact``."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = subparsers.add_parser(
        "jobs", help="submit, inspect and follow jobs of a design-job service",
        description="Submit, inspect and follow jobs of a (remote) design-job service.",
        epilog=JOBS_EXAMPLE, formatter_class=raw,
    )
    sub = parser.add_subparsers(dest="jobs_command", required=True, metavar="{submit,get,follow,artifact}")

    follow = sub.add_parser("follow", help="show a job's progress until it finishes", epilog=FOLLOW_EXAMPLE,
                            description="Follow a job's progress over Server-Sent Events (polling as a fallback) "
                                        "until it finishes; print the final job as JSON.", formatter_class=raw)
    follow.add_argument("job_id", help="the job's id (job_...)")
    _common(follow)
    _follow_options(follow)
    follow.set_defaults(func=_follow_cmd)

    submit = sub.add_parser("submit", help="submit a job spec (JSON, @FILE or - for stdin)", epilog=SUBMIT_EXAMPLE,
                            description="Submit a job spec and print the created job as JSON "
                                        "(with --follow: follow it, then print the final job).", formatter_class=raw)
    submit.add_argument("spec", help="the job spec as JSON, @FILE, or - for stdin")
    submit.add_argument("--idempotency-key", help="retry-safe submission key")
    submit.add_argument("--follow", action="store_true", help="follow the job until it finishes")
    _common(submit)
    _follow_options(submit)
    submit.set_defaults(func=_submit_cmd)

    get = sub.add_parser("get", help="print a job as JSON", epilog=GET_EXAMPLE,
                         description="Print a job (status, progress, error, artifacts) as JSON.", formatter_class=raw)
    get.add_argument("job_id", help="the job's id (job_...)")
    _common(get)
    get.set_defaults(func=_get_cmd)

    artifact = sub.add_parser("artifact", help="download one artifact file of a job", epilog=ARTIFACT_EXAMPLE,
                              description="Download one artifact of a job (a plot, the result, an exported "
                                          "parameterization module) to a file or stdout.", formatter_class=raw)
    artifact.add_argument("job_id", help="the job's id (job_...)")
    artifact.add_argument("name", help="the artifact's file name, as listed by 'designer jobs get'")
    artifact.add_argument("--out", default=None, help="write the file here (default: stdout)")
    _common(artifact)
    artifact.set_defaults(func=_artifact_cmd)


# --- HTTP ------------------------------------------------------------------------------------

def _client(args: argparse.Namespace):
    import httpx

    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    return httpx.Client(base_url=args.url.rstrip("/"), headers=headers, timeout=httpx.Timeout(30, connect=10))


class _Refused(Exception):
    """The server answered with a problem we cannot fix by retrying (401, 404, 422...)."""


def _check(response) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            problem = response.json()
            detail = problem.get("detail") or problem.get("title")
        except ValueError:
            detail = response.text[:300]
        raise _Refused(f"HTTP {response.status_code}: {detail}")
    return response.json()


def _sse(client, job_id: str, last_event_id: int | None) -> Iterator[dict[str, Any]]:
    """Events of the job's stream as dicts (``seq``, ``type``, ``data``)."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id else {}
    import httpx

    with client.stream("GET", f"/v1/design-jobs/{job_id}/events", headers=headers,
                       timeout=httpx.Timeout(None, connect=10)) as response:
        if response.status_code >= 400:
            response.read()
            _check(response)
        data: list[str] = []
        for line in response.iter_lines():
            if line == "":
                if data:
                    yield json.loads("\n".join(data))
                data = []
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())


# --- progress display --------------------------------------------------------------------------

class _Progress:
    """A tqdm bar on a terminal, otherwise one line per change of stage or whole percent."""

    def __init__(self, job_id: str, stream=None):
        self.stream = stream or sys.stderr
        self.job_id = job_id
        self.bar = None
        self.last: tuple | None = None
        if self.stream.isatty():
            from tqdm import tqdm

            import shutil

            width = shutil.get_terminal_size((100, 20)).columns or 100  # 0 on a size-less pty
            self.bar = tqdm(total=100, desc=job_id[:16], unit="%", file=self.stream, ncols=max(width, 60),
                            bar_format="{desc} {percentage:3.0f}%|{bar}|{postfix}")

    def status(self, status: str) -> None:
        self._show(None, status)

    def progress(self, fraction: float | None, stage: str | None, best_fit: float | None) -> None:
        self._show(fraction, stage, best_fit)

    def _show(self, fraction: float | None, stage: str | None, best_fit: float | None = None) -> None:
        if self.bar is not None:
            if fraction is not None:
                self.bar.n = round(100 * fraction, 1)
            self.bar.set_postfix_str(f"{stage or ''}" + (f" best_fit={best_fit:.3g}" if best_fit is not None else ""))
            self.bar.refresh()
            return
        key = (None if fraction is None else int(100 * fraction), stage)
        if key == self.last:
            return
        self.last = key
        pct = "    " if fraction is None else f"{100 * fraction:3.0f}%"
        fit = "" if best_fit is None else f"  best_fit={best_fit:.3g}"
        print(f"{self.job_id} {pct} {stage or ''}{fit}", file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def follow_job(client, job_id: str, *, use_sse: bool = True, poll_seconds: float = 1.0,
               timeout: float | None = None, display: _Progress | None = None) -> dict[str, Any]:
    """Follow a job until it is finished; return its final public JSON.

    SSE first, resuming after the last seen event when the connection drops; after three failed
    connections in a row (or with ``use_sse=False``) it polls ``GET /v1/design-jobs/{id}``.
    """
    import httpx

    display = display or _Progress(job_id)
    deadline = None if timeout is None else time.monotonic() + timeout
    last_seq, failures = None, 0
    try:
        job = _check(client.get(f"/v1/design-jobs/{job_id}"))
        display.status(job["status"])
        while use_sse and failures < 3 and job["status"] not in TERMINAL:
            try:
                for event in _sse(client, job_id, last_seq):
                    last_seq, failures = event["seq"], 0
                    data = event["data"]
                    if event["type"] == "progress":
                        display.progress(data.get("fraction"), data.get("stage"), data.get("best_fit"))
                    elif event["type"] == "status":
                        display.status(data.get("status"))
                    if deadline is not None and time.monotonic() > deadline:
                        raise TimeoutError(f"{job_id} not finished after {timeout:g} s")
                job = _check(client.get(f"/v1/design-jobs/{job_id}"))
            except (httpx.TransportError, json.JSONDecodeError):
                failures += 1
                time.sleep(min(poll_seconds, 1.0))
        while job["status"] not in TERMINAL:  # polling fallback
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{job_id} not finished after {timeout:g} s")
            time.sleep(poll_seconds)
            try:
                job = _check(client.get(f"/v1/design-jobs/{job_id}"))
            except httpx.TransportError:
                continue
            progress = job.get("progress") or {}
            display.progress(progress.get("fraction"), progress.get("stage") or job["status"], progress.get("best_fit"))
        if job["status"] == "succeeded":
            display.progress(1.0, "succeeded", (job.get("progress") or {}).get("best_fit"))
        else:
            display.status(job["status"])
        return job
    finally:
        display.close()


# --- commands ----------------------------------------------------------------------------------

def _finish(job: dict[str, Any]) -> int:
    print(json.dumps(job, indent=2))
    if job["status"] != "succeeded" and job.get("error"):
        print(f"job {job['id']} {job['status']}: {job['error']['code']}: {job['error']['message']}", file=sys.stderr)
    return 0 if job["status"] == "succeeded" else 1


def _run(args: argparse.Namespace, body) -> int:
    import httpx

    try:
        with _client(args) as client:
            return body(client)
    except _Refused as exc:
        print(f"designer jobs: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(f"designer jobs: cannot reach {args.url}: {exc}", file=sys.stderr)
        return 2
    except TimeoutError as exc:
        print(f"designer jobs: {exc}", file=sys.stderr)
        return 1


def _follow_cmd(args: argparse.Namespace) -> int:
    return _run(args, lambda c: _finish(follow_job(c, args.job_id, use_sse=not args.no_sse,
                                                   poll_seconds=args.poll_seconds, timeout=args.timeout)))


def _get_cmd(args: argparse.Namespace) -> int:
    def body(client) -> int:
        print(json.dumps(_check(client.get(f"/v1/design-jobs/{args.job_id}")), indent=2))
        return 0
    return _run(args, body)


def _artifact_cmd(args: argparse.Namespace) -> int:
    from urllib.parse import quote

    def body(client) -> int:
        response = client.get(f"/v1/design-jobs/{quote(args.job_id, safe='')}/artifacts/{quote(args.name, safe='')}")
        if response.status_code >= 400:
            _check(response)
        if args.out:
            with open(args.out, "wb") as fh:
                fh.write(response.content)
            print(f"wrote {args.out} ({len(response.content)} bytes)", file=sys.stderr)
        else:
            sys.stdout.buffer.write(response.content)
            sys.stdout.flush()
        return 0
    return _run(args, body)


def _submit_cmd(args: argparse.Namespace) -> int:
    try:
        if args.spec == "-":
            spec = json.load(sys.stdin)
        elif args.spec.startswith("@"):
            with open(args.spec[1:], encoding="utf-8") as fh:
                spec = json.load(fh)
        else:
            spec = json.loads(args.spec)
    except (OSError, ValueError) as exc:
        print(f"designer jobs submit: spec: {exc}", file=sys.stderr)
        return 2

    def body(client) -> int:
        headers = {"Idempotency-Key": args.idempotency_key} if args.idempotency_key else {}
        job = _check(client.post("/v1/design-jobs", json=spec, headers=headers))
        if not args.follow:
            print(json.dumps(job, indent=2))
            return 0
        print(f"submitted {job['id']}", file=sys.stderr)
        return _finish(follow_job(client, job["id"], use_sse=not args.no_sse, poll_seconds=args.poll_seconds,
                                  timeout=args.timeout))
    return _run(args, body)
