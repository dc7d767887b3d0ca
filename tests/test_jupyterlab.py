"""JupyterLab really starts from this environment, with nbgrader's server extension, and stops cleanly.

The server runs on a free loopback port with a random token, with HOME and the user-level
Jupyter folders moved into a temporary directory, so a developer's own settings neither
help nor hurt. The environment's own Jupyter configuration (where nbgrader enables its
server extension) is still read, as it is for `make lab`.
"""
from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str, token: str) -> tuple[int, dict[str, str], bytes]:
    """One GET on the loopback server, redirects not followed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"token {token}"})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def lab(tmp_path):
    token, port = secrets.token_hex(16), free_port()
    home = tmp_path / "home"
    runtime_dir = home / "runtime"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "JPY_"))}
    env.update(
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
        JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(runtime_dir),
        IPYTHONDIR=str(home / ".ipython"),
    )
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser",
        "--ServerApp.ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO_ROOT}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI often run as root
    log_path = tmp_path / "lab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = {"process": process, "port": port, "token": token, "runtime_dir": runtime_dir, "log": log_path}
    try:
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def wait_for_lab(server) -> tuple[int, bytes]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server["process"].poll() is not None:
            pytest.fail(f"JupyterLab exited with {server['process'].returncode}:\n{server['log'].read_text()[-3000:]}")
        try:
            status, _, body = get(server["port"], "/lab", server["token"])
            if status == 200:
                return status, body
        except OSError:
            pass  # not listening yet
        time.sleep(0.25)
    pytest.fail(f"/lab did not answer 200 within {START_TIMEOUT_S} s:\n{server['log'].read_text()[-3000:]}")


@pytest.mark.timeout(START_TIMEOUT_S + 60)
def test_jupyterlab_serves_lab_with_nbgrader_and_shuts_down(lab):
    import nbgrader

    port, token = lab["port"], lab["token"]
    _, body = wait_for_lab(lab)
    assert b"JupyterLab" in body

    # Without the token the server refuses: the API is not open to anyone on the machine.
    status, _, _ = get(port, "/api/contents", token="wrong")
    assert status == 403

    # nbgrader's server extensions answer from inside this server.
    status, _, body = get(port, f"/nbgrader_version?version={nbgrader.__version__}", token)
    assert status == 200 and json.loads(body) == {"success": True}
    status, _, body = get(port, "/formgraders", token)
    assert status == 200
    courses = json.loads(body)
    assert courses["success"] is True
    assert [c["course_id"] for c in courses["value"]] == ["rnn-course"]  # read from nbgrader_config.py
    status, headers, _ = get(port, "/formgrader", token)
    assert status in (200, 302), status  # the formgrader page exists (it redirects to its first tab)

    # The server registered itself, and a clean shutdown removes that record.
    info = lab["runtime_dir"] / f"jpserver-{lab['process'].pid}.json"
    assert json.loads(info.read_text())["port"] == port
    lab["process"].terminate()
    try:
        lab["process"].wait(30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"JupyterLab did not stop within 30 s of SIGTERM:\n{lab['log'].read_text()[-3000:]}")
    assert not info.exists(), "JupyterLab did not clean up its server record: not a clean shutdown"
    log = lab["log"].read_text()
    assert not re.search(r"^\[E ", log, re.M), f"errors in the JupyterLab log:\n{log[-3000:]}"


def test_make_lab_passes_lab_args_through():
    result = subprocess.run(
        ["make", "-n", "lab", "LAB_ARGS=--no-browser --port=8899"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        # not the VENV=... of a `make test VENV=...` around this test (make passes it on in MAKEFLAGS)
        # nor the VENV that make exports to its recipes' environment (CI's `make test VENV=.venv-3.13`)
        env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VENV", "PYTHON")},
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if re.search(r"\bjupyter lab\b", line)]
    assert len(lines) == 1, result.stdout
    # The course's own jupyter, with .venv/bin first on PATH: Formgrader runs `alembic` from there
    # (without it, its first open failed with FileNotFoundError and left a gradebook without alembic_version).
    venv_bin = re.escape(str(REPO_ROOT / ".venv" / "bin"))
    assert re.match(rf'^PATH="{venv_bin}:\$PATH" \.venv/bin/jupyter lab ', lines[0]), lines[0]
    assert "--notebook-dir=." in lines[0]  # opens at the repository root
    assert "--no-browser --port=8899" in lines[0]


@pytest.mark.timeout(START_TIMEOUT_S + 30)
def test_the_course_turns_off_jupyters_news_popup_and_update_check(lab):
    """jupyter-config/overrides.d/rnn-course.json, installed into the environment, is what JupyterLab serves."""
    installed = Path(sys.prefix) / "share/jupyter/lab/settings/overrides.d/rnn-course.json"
    assert installed.is_file(), f"{installed} is missing: `make setup` copies it there (pip install . installs it)"
    assert installed.read_text() == (REPO_ROOT / "jupyter-config/overrides.d/rnn-course.json").read_text()
    wait_for_lab(lab)
    status, _, body = get(lab["port"], "/lab/api/settings/@jupyterlab/apputils-extension:notification", lab["token"])
    assert status == 200, body[:500]
    plugin = json.loads(body)
    defaults = {name: spec["default"] for name, spec in plugin["schema"]["properties"].items()}
    # Overrides become the schema's defaults; this fresh HOME has no user settings to outvote them. With
    # fetchNews "none" JupyterLab asks "Would you like to get notified about official Jupyter news?".
    assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, defaults
    assert "fetchNews" not in plugin["settings"], plugin["settings"]
