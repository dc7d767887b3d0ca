"""Sandboxed autograding: every kernel nbgrader starts for a submission runs inside bubblewrap.

nbgrader runs student code with the grader's rights; left alone, a submission can read the
instructor's solutions and hidden tests, read other students' work, or rewrite the gradebook.
This module closes that hole for ``python -m grading autograde``:

* :func:`check` makes sure the sandbox works here (Linux, ``bwrap``, namespaces) and raises
  :class:`SandboxUnavailable` (naming the ``--no-sandbox`` opt-out) when it does not;
* :func:`nbgrader_args` returns the extra ``nbgrader autograde`` flags that make every grading
  kernel a sandboxed one: a dedicated kernelspec (``rnn-course-sandbox``, whose command is
  :mod:`grading.sandbox_kernel`) and ZeroMQ over Unix sockets (``ipc``), since the sandbox has
  no network at all.

What the kernel can see and which limits apply is described in :mod:`grading.sandbox_kernel`.
Limits can be changed per call (``Limits``) or with environment variables
``COURSE_SANDBOX_MEMORY_MB``, ``..._NPROC``, ``..._WALL_SECONDS`` and friends (see ``Limits``).
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
from dataclasses import dataclass, fields
from pathlib import Path

import helpers
from grading import sandbox_kernel

KERNEL_NAME = "rnn-course-sandbox"
NO_SANDBOX_FLAG = "--no-sandbox"
LAUNCHER = Path(sandbox_kernel.__file__).resolve()
HELPERS_DIR = Path(helpers.__file__).resolve().parent  # the lab imports helpers

__all__ = ["KERNEL_NAME", "NO_SANDBOX_FLAG", "Limits", "SandboxUnavailable", "check",
           "install_kernelspec", "nbgrader_args"]


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


_D = sandbox_kernel.DEFAULTS  # the launcher's defaults are the one source of truth


@dataclass(frozen=True)
class Limits:
    """Resource limits for one grading kernel; each can be set with COURSE_SANDBOX_<NAME>."""

    memory_mb: int = _D["memory_mb"]  # RLIMIT_DATA: heap and private memory (torch CPU grading needs < 1 GB)
    address_space_extra_mb: int = _D["address_space_extra_mb"]  # RLIMIT_AS = memory_mb + this
    nproc: int = _D["nproc"]  # processes and threads of the kernel's uid (RLIMIT_NPROC)
    fsize_mb: int = _D["fsize_mb"]  # largest file the kernel may write
    nofile: int = _D["nofile"]  # open files
    cpu_seconds: int = _D["cpu_seconds"]  # CPU time per process
    wall_seconds: int = _D["wall_seconds"]  # lifetime of the kernel; it is killed after that
    tmp_mb: int = _D["tmp_mb"]  # private /tmp and /dev/shm (memory-backed)
    threads: int = _D["threads"]  # OMP/MKL/OpenBLAS threads; 0: the grader's OMP_NUM_THREADS, else min(4, CPUs)
    uid: int = _D["uid"]  # unprivileged uid/gid the kernel runs as when grading as root
    gid: int = _D["gid"]

    @classmethod
    def from_env(cls, **overrides: int) -> "Limits":
        values = {}
        for f in fields(cls):
            env = os.environ.get(f"COURSE_SANDBOX_{f.name.upper()}")
            if env is not None:
                try:
                    values[f.name] = int(env)
                except ValueError:
                    raise ValueError(f"COURSE_SANDBOX_{f.name.upper()}={env!r} is not an integer") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def launcher_args(self) -> list[str]:
        return [f"--{f.name.replace('_', '-')}={getattr(self, f.name)}" for f in fields(self)]


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


def _ro_paths(course_dir: Path | None) -> list[Path]:
    """Course paths the kernel reads: the helpers package and the data cache (and a local mirror)."""
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
        ns = sandbox_kernel.parser().parse_args(Limits.from_env().launcher_args())
        cmd = sandbox_kernel.build_command(
            ns, [sys.executable, "-I", "-c", probe_code], workdir=Path(tmp),
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
    (see nbgrader_args), so concurrent runs with different limits cannot mix them up.
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


def nbgrader_args(course_dir: Path, limits: Limits | None = None) -> list[str]:
    """Extra ``nbgrader autograde`` flags that run every grading kernel in the sandbox.

    Checks the sandbox first (raises SandboxUnavailable), installs the kernelspec, and makes
    this run's private folder (removed when this process exits): ``ipc/`` for the kernels'
    ZeroMQ sockets, the only grader folder a kernel can write, and ``sandbox.json`` beside it
    with the limits and read-only paths, which the launcher reads and the kernel cannot reach.
    """
    check()
    limits = limits or Limits.from_env()
    ro = _ro_paths(Path(course_dir))
    install_kernelspec()
    # Short path: Unix socket names are limited to ~107 bytes.
    run_dir = Path(tempfile.mkdtemp(prefix="rnn-sbx-", dir="/tmp"))
    atexit.register(shutil.rmtree, run_dir, True)
    (run_dir / "ipc").mkdir(mode=0o700)
    args = limits.launcher_args() + [a for p in ro for a in ("--ro", str(p))]
    settings = run_dir / sandbox_kernel.SETTINGS
    settings.write_text(json.dumps({"args": args}, indent=1))
    os.chmod(settings, 0o600)
    return [
        f"--ExecutePreprocessor.kernel_name={KERNEL_NAME}",
        f"--Execute.kernel_name={KERNEL_NAME}",
        "--KernelManager.transport=ipc",
        f"--KernelManager.ip={run_dir}/ipc/kernel",
    ]
