"""Kernel launcher for sandboxed grading: runs one ipykernel inside bubblewrap (bwrap).

The grading kernelspec (written by :func:`grading.sandbox.install_kernelspec`) starts this
file as a *script* (``python -I .../sandbox_kernel.py OPTIONS -- python -m ipykernel_launcher
-f CONNECTION_FILE``), so it imports only the standard library and starts in milliseconds.
It runs outside the sandbox, with the grader's rights, in the submission folder nbgrader
chose as the kernel's working directory. It then starts the kernel under ``bwrap`` so that
the student's code sees:

* read-only: the system (``/usr``, the libraries, a few files of ``/etc``), the Python
  installation and virtual environment, and the course paths passed with ``--ro``
  (the ``helpers`` package and the data cache) - nothing else of the file system;
* writable: its own submission folder (the working directory), a private, size-limited ``/tmp``
  (also ``$HOME``) and ``/dev/shm``, and the folder that holds the kernel's ZeroMQ ``ipc`` sockets;
* no network at all (``--unshare-net``; the kernel talks to nbgrader over Unix sockets),
  its own PID, IPC and UTS namespaces, a cleaned environment (no tokens, no grader paths);
* limits: data and address-space size, processes (``RLIMIT_NPROC``), file size, open files,
  CPU seconds, no core dumps, and a wall-clock limit enforced here (the whole sandbox is
  killed when it runs out, or when nbgrader dies).

When the grader is root, bwrap runs privileged with every capability dropped except
SETUID/SETGID, and ``setpriv`` switches the kernel to an unprivileged uid (default 65534,
``nobody``) before Python starts: root ignores ``RLIMIT_NPROC``, an unprivileged uid does
not. Otherwise bwrap makes an unprivileged user namespace and the kernel keeps the grader's
uid, with its process limit counted inside that namespace only.

Everything the sandbox needs to know is one :class:`SandboxConfig` (limits, the uid, the read-only
paths). ``build_command`` is also used for the judge (:mod:`grading.judge`) and by
:func:`grading.sandbox.check` to probe the sandbox.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

MiB = 1024 * 1024

# Files and folders of /etc that programs in the kernel read; the rest of /etc
# (service configurations, which can hold secrets) stays out of the sandbox.
ETC_ENTRIES = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "timezone",
    "passwd", "group", "nsswitch.conf", "hosts", "host.conf", "os-release", "lsb-release",
    "debian_version", "fonts", "mime.types", "matplotlibrc", "locale.alias", "locale.conf",
    "default/locale",
)
# Top-level system folders (or merged-/usr symlinks) the interpreter and its libraries need.
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "opt/conda")
# Environment variables copied from the grader into the kernel (everything else is dropped:
# the grader's environment can hold tokens, and student code can read os.environ).
ENV_KEEP = (
    "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "NBGRADER_EXECUTION", "NBGRADER_VALIDATING",
    "COURSE_FAST", "COURSE_DEVICE", "COURSE_DATA_DIR", "COURSE_DATA_MIRROR",
    "MPLBACKEND",
)


@dataclass(frozen=True)
class SandboxConfig:
    """One sandboxed process: its limits, the uid it runs as, and what it may read.

    Each field can be set with ``COURSE_SANDBOX_<NAME>`` (e.g. COURSE_SANDBOX_MEMORY_MB=2048).
    """

    memory_mb: int = 4096  # RLIMIT_DATA: heap and private memory (torch CPU grading needs < 1 GB)
    address_space_extra_mb: int = 4096  # RLIMIT_AS = memory_mb + this (libraries, thread stacks, mappings)
    nproc: int = 256  # processes and threads of the uid (RLIMIT_NPROC)
    fsize_mb: int = 1024  # largest file it may write
    nofile: int = 1024  # open files
    cpu_seconds: int = 900  # CPU time per process (RLIMIT_CPU)
    wall_seconds: int = 900  # lifetime; then it is killed
    tmp_mb: int = 512  # private /tmp and /dev/shm (memory-backed)
    threads: int = 0  # OMP/MKL/OpenBLAS threads; 0: the grader's OMP_NUM_THREADS, else min(4, CPUs)
    uid: int = 65534  # unprivileged uid/gid it runs as when grading as root
    gid: int = 65534
    ro: tuple = ()  # extra read-only paths (the helpers package, the data cache, a lab's checks)

    @classmethod
    def from_env(cls, **overrides) -> "SandboxConfig":
        values = {}
        for f in fields(cls):
            env = os.environ.get(f"COURSE_SANDBOX_{f.name.upper()}")
            if env is not None and f.name != "ro":
                try:
                    values[f.name] = int(env)
                except ValueError:
                    raise ValueError(f"COURSE_SANDBOX_{f.name.upper()}={env!r} is not an integer") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes) -> "SandboxConfig":
        return replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "SandboxConfig":
        data = json.loads(text)
        data["ro"] = tuple(data.get("ro", ()))
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def _limits_args(ns: SandboxConfig) -> list[str]:
    """prlimit options (soft = hard, so sandboxed code cannot raise them)."""
    mem = ns.memory_mb * MiB
    return [
        f"--data={mem}",
        f"--as={mem + ns.address_space_extra_mb * MiB}",
        f"--nproc={ns.nproc}",
        f"--fsize={ns.fsize_mb * MiB}",
        f"--nofile={ns.nofile}",
        f"--cpu={ns.cpu_seconds}",
        "--core=0",
    ]


def python_paths(python: str) -> list[Path]:
    """Folders a virtual environment's interpreter needs: the venv and the real installation."""
    exe = Path(python)
    paths = [exe.parent.parent, Path(os.path.realpath(exe)).parent.parent]
    cfg = exe.parent.parent / "pyvenv.cfg"
    if cfg.is_file():
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                paths.append(Path(value.strip()).parent)
    paths += [Path(sys.base_prefix), Path(sys.prefix)]
    out: list[Path] = []
    for p in paths:
        p = Path(os.path.abspath(p))
        if p != Path("/") and p not in out and p.is_dir():
            out.append(p)
    return out


def build_command(
    ns: SandboxConfig,
    inner: list[str],
    *,
    workdir: Path,
    rw: list[Path] = (),
    data_files: list[tuple[int, str]] = (),
    env: dict[str, str] | None = None,
) -> list[str]:
    """The full ``bwrap ... prlimit ... [setpriv ...] inner`` command line."""
    bwrap = shutil.which("bwrap") or "bwrap"
    root = os.geteuid() == 0
    args = [bwrap, "--die-with-parent", "--new-session"]
    # Namespaces: everything but the user namespace when root (then setpriv drops to
    # an unprivileged uid); an unprivileged user namespace otherwise.
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if root:
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user", "--disable-userns"]
    args += ["--hostname", "sandbox"]

    # The private /tmp and /dev/shm come first: paths bound afterwards (a virtualenv or a
    # course that lives under /tmp) are mounted on top of them instead of being hidden.
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(ns.tmp_mb * MiB), "--tmpfs", "/tmp"]
    args += ["--perms", "1777", "--size", str(ns.tmp_mb * MiB), "--tmpfs", "/dev/shm"]
    # A writable matplotlib cache folder, seeded below with the grader's font list so that
    # each kernel does not rebuild it (about a second per submission).
    args += ["--perms", "1777", "--dir", "/tmp/.matplotlib"]
    made: set[Path] = {Path("/tmp"), Path("/tmp/.matplotlib"), Path("/dev")}

    def parents(path: Path) -> None:
        # Folders bwrap makes on the way to a mount point get mode 0755 (bwrap's own
        # default is 0700), so that an unprivileged kernel can walk down to the mount.
        for d in reversed(path.parents[:-1]):  # leave out "/"
            if d not in made:
                made.add(d)
                args.extend(["--perms", "0755", "--dir", str(d)])

    def bind(kind: str, path: Path) -> None:
        parents(path)
        args.extend([kind, str(path), str(path)])

    for name in SYSTEM_DIRS:
        path = Path("/") / name
        if path.is_symlink():  # merged /usr: /lib -> usr/lib
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            bind("--ro-bind", path)
    for name in ETC_ENTRIES:
        path = Path("/etc") / name
        if path.exists():
            bind("--ro-bind", path)
    seen: set[Path] = set()
    for p in python_paths(inner[0]) + [Path(p) for p in ns.ro]:
        p = Path(os.path.abspath(p))
        if p.exists() and p not in seen:
            seen.add(p)
            bind("--ro-bind", p)
    for p in rw:
        bind("--bind", Path(p))
    bind("--bind", workdir)
    for fd, dest in data_files:  # copies (e.g. the connection file), readable by the kernel only
        parents(Path(dest))
        args += ["--perms", "0444", "--ro-bind-data", str(fd), dest]
    # Nothing else is writable: the sandbox's own root and /dev become read-only.
    args += ["--remount-ro", "/dev", "--remount-ro", "/"]
    args += ["--chdir", str(workdir), "--clearenv"]
    for key, value in (env or {}).items():
        args += ["--setenv", key, value]
    args += ["--", shutil.which("prlimit") or "prlimit", *_limits_args(ns), "--"]
    if root:
        args += [shutil.which("setpriv") or "setpriv", f"--reuid={ns.uid}", f"--regid={ns.gid}",
                 "--clear-groups", "--"]
    return args + list(inner)


def kernel_threads(requested: int = 0) -> int:
    """Threads for torch/BLAS in the kernel: --threads, else the grader's OMP_NUM_THREADS, else min(4, CPUs).

    One number for OMP, MKL and OpenBLAS alike: torch takes MKL_NUM_THREADS over
    OMP_NUM_THREADS, and a mismatch makes small tensor operations several times slower.
    """
    if requested > 0:
        return requested
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "")))
    except ValueError:
        return min(4, os.cpu_count() or 1)


def kernel_env(python: str, threads: int) -> dict[str, str]:
    venv_bin = str(Path(python).parent)
    env = {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "IPYTHONDIR": "/tmp/.ipython",
        "MPLCONFIGDIR": "/tmp/.matplotlib",
        "MALLOC_ARENA_MAX": "2",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "LANG": "C.UTF-8",
        # ipykernel watches its parent through this pid; the grader's pid means nothing in the
        # sandbox's PID namespace. 1 turns the watch off (bwrap kills the kernel with its parent).
        "JPY_PARENT_PID": "1",
    }
    for key in ENV_KEEP:
        if key in os.environ:
            env[key] = os.environ[key]
    return env


# Names that mark a course root or a grader's folder: the working directory must be a
# submission folder, never one of these (binding it writable would expose the course).
FORBIDDEN_MARKERS = ("gradebook.db", "nbgrader_config.py", ".git", "pyproject.toml")


def _check_workdir(workdir: Path) -> None:
    home = Path(os.path.expanduser("~")).resolve()
    if workdir == Path("/") or workdir == home or len(workdir.parts) < 3:
        raise SystemExit(f"sandbox_kernel: refusing to expose {workdir} to student code; "
                         "the kernel must start in a submission folder.")
    for marker in FORBIDDEN_MARKERS:
        if (workdir / marker).exists():
            raise SystemExit(f"sandbox_kernel: {workdir} holds {marker}, so it looks like a course "
                             "root, not a submission folder; refusing to expose it to student code.")


def _matplotlib_font_lists() -> list[Path]:
    """The grader's matplotlib font cache files (fontlist-v*.json), if any."""
    home = Path(os.path.expanduser("~"))
    folders = [os.environ.get("MPLCONFIGDIR"), os.environ.get("XDG_CACHE_HOME") and
               Path(os.environ["XDG_CACHE_HOME"]) / "matplotlib", home / ".cache" / "matplotlib",
               home / ".matplotlib"]
    for folder in folders:
        if folder and Path(folder).is_dir():
            found = sorted(Path(folder).glob("fontlist-v*.json"))
            if found:
                return found
    return []


def _chown_tree(top: Path, uid: int, gid: int) -> None:
    """lchown everything under top (never following links)."""
    os.lchown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            try:
                os.lchown(os.path.join(dirpath, name), uid, gid)
            except OSError:
                pass


SETTINGS = "sandbox.json"
CONNECTION_FILE = "/run/kernel/connection.json"  # where the kernel finds its copy


def load_settings(ipc_dir: Path) -> SandboxConfig:
    """The sandbox of this grading run, written by grading.sandbox.kernel_settings.

    It lives next to (not inside) the socket folder, which the kernel can write: a student
    must not be able to change the limits of the next kernel.
    """
    path = ipc_dir.parent / SETTINGS
    try:
        st = path.stat()
        config = SandboxConfig.from_json(path.read_text())
    except (OSError, ValueError, TypeError) as err:
        raise SystemExit(f"sandbox_kernel: cannot read {path} ({err}); start grading kernels through "
                         "grading (python -m grading autograde, or nbgrader with the course's config).") from None
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise SystemExit(f"sandbox_kernel: {path} must belong to the grader and not be writable by others.")
    return config


def _die_with_parent() -> None:
    """Get SIGTERM when the process that started us (nbgrader) dies, so no sandbox outlives it."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    """sandbox_kernel.py -- KERNEL COMMAND -f CONNECTION_FILE: the kernel, sandboxed as its run's settings say."""
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # it died before prctl took effect
        return 1
    argv = sys.argv[1:] if argv is None else argv
    inner = argv[1:] if argv[:1] == ["--"] else argv
    if "-f" not in inner:
        raise SystemExit("sandbox_kernel: expected the kernel command after --, with -f CONNECTION_FILE")
    conn = Path(inner[inner.index("-f") + 1]).resolve()
    info = json.loads(conn.read_text())
    if info.get("transport") != "ipc":
        raise SystemExit("sandbox_kernel: the kernel must use the ipc transport (the sandbox has no "
                         "network); start it through grading.sandbox.kernel_settings.")
    ipc_dir = Path(info["ip"]).resolve().parent
    config = load_settings(ipc_dir)
    workdir = Path.cwd().resolve()
    _check_workdir(workdir)
    conn_fd = os.open(conn, os.O_RDONLY)  # the connection file (in the grader's private runtime folder) goes in as a copy
    inner = list(inner)
    inner[inner.index("-f") + 1] = CONNECTION_FILE

    root = os.geteuid() == 0
    owner = workdir.stat()
    if root:  # the kernel's unprivileged uid must be able to write its folder and sockets
        _chown_tree(workdir, config.uid, config.gid)
        os.lchown(ipc_dir, config.uid, config.gid)
        os.chmod(ipc_dir, 0o700)
    data_files = [(conn_fd, CONNECTION_FILE)]
    for font_list in _matplotlib_font_lists():
        data_files.append((os.open(font_list, os.O_RDONLY), f"/tmp/.matplotlib/{font_list.name}"))
    cmd = build_command(config, inner, workdir=workdir, rw=[ipc_dir], data_files=data_files,
                        env=kernel_env(inner[0], kernel_threads(config.threads)))
    proc = subprocess.Popen(cmd, pass_fds=[fd for fd, _ in data_files])
    for fd, _ in data_files:
        os.close(fd)

    def stop(signum, frame):  # shutdown from jupyter_client: take the whole sandbox down
        proc.kill()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts travel as messages (interrupt_mode)
    try:
        rc = proc.wait(timeout=config.wall_seconds)
    except subprocess.TimeoutExpired:
        print(f"sandbox_kernel: kernel ran past the {config.wall_seconds:.0f} s wall-clock limit; killed.",
              file=sys.stderr, flush=True)
        proc.kill()
        rc = proc.wait()
    if root:  # give the folder back to its owner (the sandbox is gone, nothing can race this)
        _chown_tree(workdir, owner.st_uid, owner.st_gid)
    return rc


if __name__ == "__main__":
    sys.exit(main())
