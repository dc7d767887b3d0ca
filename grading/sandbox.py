"""Sandboxed autograding: every process that touches a submission runs inside bubblewrap.

nbgrader runs student code with the grader's rights; left alone, a submission can read the
instructor's solutions and checks, read other students' work, or rewrite the gradebook. Grading
therefore runs two kinds of sandboxed process per submission:

* the **kernel** that runs the student's notebook: a dedicated kernelspec (``rnn-course-sandbox``,
  whose command is :mod:`grading.sandbox_kernel`) with ZeroMQ over Unix sockets (``ipc``), since
  the sandbox has no network at all. :func:`kernel_settings` prepares one grading run's kernels.
* the **judge** (:mod:`grading.judge`), which draws a lab's hidden inputs and decides its checks
  where no student code ever ran: :func:`judge_command`.

:func:`check` makes sure the sandbox works here (Linux, ``bwrap``, namespaces) and raises
:class:`SandboxUnavailable` (naming the ``--no-sandbox`` opt-out) when it does not. Both kinds are
described by one :class:`SandboxConfig` (limits, uid, read-only paths), whose fields can be set
with ``COURSE_SANDBOX_<NAME>`` environment variables.
"""
from __future__ import annotations

import atexit
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import helpers
from grading import sandbox_kernel

KERNEL_NAME = "rnn-course-sandbox"
NO_SANDBOX_FLAG = "--no-sandbox"
LAUNCHER = Path(sandbox_kernel.__file__).resolve()
HELPERS_DIR = Path(helpers.__file__).resolve().parent  # the lab imports helpers

__all__ = ["KERNEL_NAME", "NO_SANDBOX_FLAG", "SandboxConfig", "SandboxUnavailable", "check",
           "install_kernelspec", "kernel_settings", "judge_command"]


class SandboxUnavailable(RuntimeError):
    """The grading sandbox cannot run on this machine; the message says why and what to do."""

    def __init__(self, reason: str, fix: str = ""):
        self.reason = reason
        message = f"Sandboxed grading is not available: {reason}."
        if fix:
            message += f"\n  To fix: {fix}"
        message += (
            f"\n  Or grade WITHOUT isolation with the explicit opt-out flag {NO_SANDBOX_FLAG} "
            "(student code then runs with your rights: it can read solutions and hidden tests, "
            "other students' work, and change the gradebook)."
        )
        super().__init__(message)


SandboxConfig = sandbox_kernel.SandboxConfig
GRADING_DIR = Path(__file__).resolve().parent  # the judge imports grading.spec and grading.probe


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _userns_hint() -> str:
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        return ("AppArmor blocks unprivileged user namespaces (Ubuntu 23.10+): "
                "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0, or grade as root")
    if _read("/proc/sys/user/max_user_namespaces") == "0":
        return "user namespaces are disabled: sudo sysctl -w user.max_user_namespaces=10000"
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return "unprivileged user namespaces are disabled: sudo sysctl -w kernel.unprivileged_userns_clone=1"
    return "run the grading on a Linux host (or container) that allows user namespaces"


def course_ro_paths(course_dir: Path | None) -> list[Path]:
    """Course paths a sandbox reads: the helpers package and the data cache (and a local mirror)."""
    paths = [HELPERS_DIR]
    from helpers.data import cache_dir  # the same rule helpers.data uses inside the kernel

    paths.append(cache_dir().resolve())
    mirror = os.environ.get("COURSE_DATA_MIRROR", "").strip()
    if mirror and "://" not in mirror and Path(mirror).expanduser().is_dir():
        paths.append(Path(mirror).expanduser().resolve())
    paths = [p for p in paths if p.exists()]
    if course_dir is not None:
        course = Path(course_dir).resolve()
        for p in paths + sandbox_kernel.python_paths(sys.executable):
            if p == course or p in course.parents:
                raise SandboxUnavailable(
                    f"{p} would be readable inside the sandbox and it contains the course folder {course}",
                    "keep the virtual environment, helpers/ and the data cache (COURSE_DATA_DIR) in "
                    "their own folders, not above the course",
                )
    return paths


def check() -> None:
    """Raise SandboxUnavailable unless a sandboxed kernel can start on this machine.

    Runs a real probe: an interpreter inside the same bwrap set-up the grading kernels use,
    which must come up without network and (when grading as root) as an unprivileged uid.
    """
    if sys.platform != "linux":
        raise SandboxUnavailable(
            f"it needs Linux (bubblewrap and namespaces); this is {platform.system() or sys.platform}",
            "grade on a Linux machine or container (e.g. the course's JupyterHub)",
        )
    if shutil.which("bwrap") is None:
        raise SandboxUnavailable(
            "bubblewrap (the `bwrap` command) is not installed",
            "make sandbox-deps (runs: sudo apt-get install bubblewrap), or your OS's bubblewrap package",
        )
    needed = ["prlimit"] + (["setpriv"] if os.geteuid() == 0 else [])
    missing = [tool for tool in needed if shutil.which(tool) is None]
    if missing:
        raise SandboxUnavailable(f"{' and '.join(missing)} (from util-linux) not found",
                                 "sudo apt-get install util-linux")
    probe_code = (
        "import os, socket\n"
        "s = socket.socket(); s.settimeout(1)\n"
        "try:\n    s.connect(('1.1.1.1', 53)); net = 'open'\n"
        "except OSError:\n    net = 'closed'\n"
        "print('ok', os.getuid(), net)\n"
    )
    with tempfile.TemporaryDirectory(prefix="rnn-sbx-probe-") as tmp:
        os.chmod(tmp, 0o755)
        cmd = sandbox_kernel.build_command(
            SandboxConfig.from_env(), [sys.executable, "-I", "-c", probe_code], workdir=Path(tmp),
            env=sandbox_kernel.kernel_env(sys.executable, 1),
        )
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise SandboxUnavailable(f"the sandbox probe failed to run ({err})", _userns_hint()) from None
    words = done.stdout.split()
    if done.returncode != 0 or words[:1] != ["ok"]:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SandboxUnavailable(f"bwrap could not start a sandbox here ({detail})", _userns_hint())
    if os.geteuid() == 0 and words[1] == "0":
        raise SandboxUnavailable("the probe kernel still ran as root", "check that setpriv works")
    if words[2] != "closed":
        raise SandboxUnavailable("the probe kernel could reach the network", "check bwrap --unshare-net")


def kernelspec_dict() -> dict:
    """The grading kernelspec: the launcher, then the usual ipykernel command.

    It holds no course-specific settings: those are in each grading run's private folder
    (see kernel_settings), so concurrent runs with different limits cannot mix them up.
    """
    return {
        "argv": [sys.executable, "-I", str(LAUNCHER), "--",
                 sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "rnn-course grading sandbox (nbgrader autograde only)",
        "language": "python",
        # The sandbox has its own session and process group: interrupts go as messages.
        "interrupt_mode": "message",
        "metadata": {"debugger": False},
    }


def install_kernelspec() -> Path:
    """Write the grading kernelspec into this environment (or else the user's Jupyter folder)."""
    text = json.dumps(kernelspec_dict(), indent=1) + "\n"
    candidates = [Path(sys.prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME]
    from jupyter_core.paths import jupyter_data_dir

    candidates.append(Path(jupyter_data_dir()) / "kernels" / KERNEL_NAME)
    errors = []
    for folder in candidates:
        target = folder / "kernel.json"
        try:
            if not (target.is_file() and target.read_text() == text):
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f"kernel.json.{os.getpid()}.tmp"
                tmp.write_text(text)
                tmp.replace(target)
            return folder
        except OSError as err:
            errors.append(f"{folder}: {err}")
    raise SandboxUnavailable("cannot write the grading kernelspec (" + "; ".join(errors) + ")",
                             "make the environment's share/jupyter/kernels folder writable")


def kernel_settings(course_dir: Path, config: SandboxConfig | None = None) -> dict:
    """The KernelManager settings that run a grading kernel in the sandbox (``kernel_name``, ``transport``, ``ip``).

    Checks the sandbox first (raises SandboxUnavailable), installs the kernelspec, and makes
    this run's private folder (removed when this process exits): ``ipc/`` for the kernels'
    ZeroMQ sockets, the only grader folder a kernel can write, and ``sandbox.json`` beside it
    with the configuration, which the launcher reads and the kernel cannot reach.
    """
    check()
    config = config or SandboxConfig.from_env()
    config = config.with_(ro=tuple(str(p) for p in course_ro_paths(Path(course_dir))) + tuple(config.ro))
    install_kernelspec()
    # Short path: Unix socket names are limited to ~107 bytes.
    run_dir = Path(tempfile.mkdtemp(prefix="rnn-sbx-", dir="/tmp"))
    atexit.register(shutil.rmtree, run_dir, True)
    (run_dir / "ipc").mkdir(mode=0o700)
    settings = run_dir / sandbox_kernel.SETTINGS
    settings.write_text(config.to_json())
    os.chmod(settings, 0o600)
    return {"kernel_name": KERNEL_NAME, "transport": "ipc", "ip": f"{run_dir}/ipc/kernel"}


def drop_run_folder(settings: dict) -> None:
    """Remove the private folder kernel_settings made (when a grading run is over)."""
    ip = settings.get("ip", "")
    if ip.endswith("/ipc/kernel"):
        shutil.rmtree(Path(ip).parent.parent, ignore_errors=True)


def judge_command(config: SandboxConfig, checks: Path, workdir: Path) -> list[str]:
    """The command line of a sandboxed judge for a lab's checks (a copy in ``workdir``, its only writable folder).

    The judge reads the grading and helpers packages and the data cache; nothing else of the
    course. When grading as root it runs as the config's unprivileged uid, so workdir is handed
    to that uid.
    """
    ro = (str(GRADING_DIR), *(str(p) for p in course_ro_paths(None)), *config.ro)
    config = config.with_(ro=ro)
    if os.geteuid() == 0:
        sandbox_kernel._chown_tree(workdir, config.uid, config.gid)
    inner = [sys.executable, "-I", str(GRADING_DIR / "judge.py"), str(checks), str(GRADING_DIR.parent)]
    env = sandbox_kernel.kernel_env(sys.executable, sandbox_kernel.kernel_threads(config.threads))
    return sandbox_kernel.build_command(config, inner, workdir=workdir, env=env)
