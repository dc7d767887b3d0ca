"""What a hub test killed outright leaves behind is removed by the next one, and only that.

tests/hub_support.py writes each deployment's owner (pid and start time), hub and accounts into its
root; sweep_abandoned() removes the deployments whose owner is gone. Run as root (accounts are made).
"""
from __future__ import annotations

import json
import os
import pwd
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hub_support import RECORD, _process_id, sweep_abandoned  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0,
                                reason="making and removing Unix accounts needs root on Linux")


def _deployment(owner: list | None) -> tuple[Path, str]:
    """A deployment root with one real account, as a hub test leaves it, owned by `owner`."""
    tag = secrets.token_hex(2)
    root = Path(tempfile.mkdtemp(prefix=f"rnn-hub-{tag}-", dir="/tmp"))
    user = f"swept-{tag}"
    subprocess.run(["useradd", "--no-create-home", user], check=True)
    (root / RECORD).write_text(json.dumps({"owner": owner, "hub": None, "accounts": [user], "groups": []}))
    return root, user


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def test_a_killed_runs_deployment_is_removed_and_a_running_ones_is_not():
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead_root, dead_user = _deployment(_process_id(gone.pid) or [gone.pid, "0"])
    live_root, live_user = _deployment(_process_id(os.getpid()))
    try:
        swept = sweep_abandoned()
        assert dead_root.name in swept and not dead_root.exists() and not _exists(dead_user)
        assert live_root.name not in swept and live_root.exists() and _exists(live_user)
    finally:
        for root, user in ((dead_root, dead_user), (live_root, live_user)):
            subprocess.run(["userdel", user], capture_output=True)
            subprocess.run(["rm", "-rf", str(root)])
