"""``designer jobs submit|get|follow|artifact`` against a live server, and an example in every --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SMALL = {"kind": "design", "target": {"kind": "l1"}, "shape": [8], "budget": 20, "seed": 3,
         "mechanisms": ["gauge", "weight_decay"]}  # seconds; label noise takes a minute


def designer(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "designer"
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=timeout)


def test_submit_follow_and_get(server_and_token):
    server, token = server_and_token
    auth = ["--url", server.base_url, "--token", token]
    out = designer("jobs", "submit", json.dumps(SMALL), "--follow", *auth)
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)
    assert job["status"] == "succeeded" and job["owner"] == "alice"
    lines = out.stderr.splitlines()
    assert lines[0] == f"submitted {job['id']}"
    # not a terminal: plain progress lines (no bar, no carriage returns), ending at 100%
    assert "\r" not in out.stderr and any(" 100% " in line for line in lines), out.stderr
    polled = designer("jobs", "follow", job["id"], "--no-sse", "--poll-seconds", "0.2", *auth)
    assert polled.returncode == 0 and json.loads(polled.stdout)["id"] == job["id"]
    got = designer("jobs", "get", job["id"], *auth)
    assert got.returncode == 0 and json.loads(got.stdout)["status"] == "succeeded"


def test_artifact_fetches_the_exported_modules(server_and_token, tmp_path):
    import httpx

    from designer.export import export_design

    server, token = server_and_token
    auth = ["--url", server.base_url, "--token", token]
    job = json.loads(designer("jobs", "submit", json.dumps(SMALL), "--follow", *auth).stdout)
    names = {a["name"] for a in job["artifacts"]}
    assert {"parameterization_torch.py", "parameterization_jax.py"} <= names
    result = httpx.get(f"{server.base_url}/v1/design-jobs/{job['id']}/result",
                       headers={"Authorization": f"Bearer {token}"}).json()["result"]
    for framework in ("torch", "jax"):
        out = tmp_path / f"p_{framework}.py"
        fetched = designer("jobs", "artifact", job["id"], f"parameterization_{framework}.py", "--out", str(out), *auth)
        assert fetched.returncode == 0, fetched.stderr
        assert out.read_text() == export_design(result, framework)
    missing = designer("jobs", "artifact", job["id"], "nope.py", *auth)
    assert missing.returncode == 2 and "HTTP 404" in missing.stderr


def test_errors_are_reported_not_raised(server_and_token):
    server, token = server_and_token
    unknown = designer("jobs", "follow", "job_" + "0" * 24, "--url", server.base_url, "--token", token)
    assert unknown.returncode == 2 and "HTTP 404" in unknown.stderr and "Traceback" not in unknown.stderr
    bad_token = designer("jobs", "get", "job_" + "0" * 24, "--url", server.base_url, "--token", "nope")
    assert bad_token.returncode == 2 and "HTTP 401" in bad_token.stderr
    bad_spec = designer("jobs", "submit", '{"kind":"design"}', "--url", server.base_url, "--token", token)
    assert bad_spec.returncode == 2 and "HTTP 422" in bad_spec.stderr


def _subcommands() -> list[list[str]]:
    from designer.cli import build_parser

    found = []

    def walk(parser, prefix):
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, sub in action.choices.items():
                    found.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return found


def test_every_command_help_has_an_example():
    commands = _subcommands()
    assert ["jobs", "follow"] in commands and ["serve"] in commands
    from designer.cli import build_parser

    missing = []
    for command in [[]] + commands:
        parser = build_parser()
        for name in command:
            parser = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices[name]
        if "example" not in parser.format_help().lower():
            missing.append("designer " + " ".join(command))
    assert not missing, f"--help without an example: {missing}"
