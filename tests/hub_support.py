"""A real rnn-course hub deployment for the tests, made with deploy/hub/hubctl.py and torn down afterwards.

`Deployment` does what docs/instructors.md tells an instructor to do, in a temporary root instead of
/etc, /srv and /opt: `hubctl.py setup`, `add-instructor`, `add-students`, the grader's release, and
`jupyterhub -f deploy/hub/jupyterhub_config.py` on loopback ports. The shared course environment is
`make hub-deps`'s .venv-hub (a Python every user may run, the course installed, jupyterhub), and the
proxy is configurable-http-proxy from npm. Accounts get a per-run tag in their names, so two runs on
one machine never meet; every account, process and folder is removed at the end, also on failure,
and what a run killed outright (SIGKILL, a CI time-out) left behind is removed by the next run.
"""
from __future__ import annotations

import csv
import http.client
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HUB_VENV = Path(os.environ.get("HUB_VENV", REPO / ".venv-hub"))
HUBCTL = REPO / "deploy" / "hub" / "hubctl.py"
HUB_CONFIG = REPO / "deploy" / "hub" / "jupyterhub_config.py"
ASSIGNMENT = "sherlock_rnn_vs_gru"
COURSE_ID = "rnn-course"
ARTIFACTS = REPO / "test-artifacts" / "hub"
# Test-only JupyterLab settings for each student: every cell in the DOM, no news pop-up over screenshots.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
}


def missing_requirements() -> str | None:
    """Why a hub cannot be deployed here, or None."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "the hub test makes Unix accounts and spawns servers as them: it needs Linux and root"
    if not (HUB_VENV / "bin" / "jupyterhub").exists():
        return f"no hub environment at {HUB_VENV}: run `make hub-deps` (make test-scale does)"
    if not shutil.which("configurable-http-proxy"):
        return "configurable-http-proxy is not installed: `make hub-deps` (npm install -g configurable-http-proxy)"
    if not shutil.which("useradd"):
        return "useradd (Debian package passwd) is missing"
    return None


def unreachable_for_others(path: Path) -> Path | None:
    """The first folder on path's way that other users cannot enter (the hub's users run from path)."""
    for folder in [*reversed(path.resolve().parents), path.resolve()]:
        if not folder.stat().st_mode & 0o001:
            return folder
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_status(url: str, path: str) -> int | None:
    host, port = url.split("//")[1].split(":")
    try:
        conn = http.client.HTTPConnection(host, int(port), timeout=5)
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None


class Deployment:
    """One hub deployment in a temporary root: accounts, exchange, course folder, and (start_hub) the hub."""

    def __init__(self, students: list[str], tag: str | None = None):
        for name in sweep_abandoned():
            print(f"removed {name}, left by a hub test that was killed before it could clean up")
        self.tag = tag or secrets.token_hex(2)
        self.root = Path(tempfile.mkdtemp(prefix=f"rnn-hub-{self.tag}-", dir="/tmp"))
        self.root.chmod(0o755)  # every account walks through it to the exchange and the data
        self.students = [f"{name}-{self.tag}" for name in students]
        self.instructor = f"prof-{self.tag}"
        self.grader = f"grader-{self.tag}"
        self.settings = {
            "RNN_HUB_COURSE_ID": COURSE_ID, "RNN_HUB_VENV": str(HUB_VENV), "RNN_HUB_DATA": str(self.root / "data"),
            "RNN_HUB_ETC": str(self.root / "etc"), "RNN_HUB_EXCHANGE": str(self.root / "exchange"),
            "RNN_HUB_STATE": str(self.root / "state"), "RNN_HUB_GRADER": self.grader,
            "RNN_HUB_STUDENTS_GROUP": f"students-{self.tag}", "RNN_HUB_INSTRUCTORS_GROUP": f"instructors-{self.tag}",
            "RNN_HUB_GRADER_PORT": str(free_port()),
        }
        self.passwords: dict[str, str] = {}
        self.hub: subprocess.Popen | None = None
        self.url = ""
        self.timings: dict[str, float] = {}
        self._record()

    def _record(self) -> None:
        """Write down what this run made and who runs it, so that a run killed outright is swept up later."""
        record = {"owner": _process_id(os.getpid()), "hub": _process_id(self.hub.pid) if self.hub else None,
                  "accounts": [*self.students, self.instructor, self.grader],
                  "groups": [self.settings["RNN_HUB_STUDENTS_GROUP"], self.settings["RNN_HUB_INSTRUCTORS_GROUP"]]}
        (self.root / RECORD).write_text(json.dumps(record))

    # --- the instructor's set-up (docs/instructors.md, "A class on JupyterHub") ---------------------

    @property
    def exchange(self) -> Path:
        return self.root / "exchange" / COURSE_ID

    @property
    def course(self) -> Path:
        return Path("/home") / self.grader / COURSE_ID

    def hubctl(self, *args: str) -> str:
        env = {**os.environ, **self.settings}
        done = subprocess.run([str(HUB_VENV / "bin" / "python"), str(HUBCTL), *args], env=env, cwd=self.root,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"hubctl.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def set_up(self, lectures: bool = True) -> None:
        mirror = os.environ.get("COURSE_DATA_MIRROR")
        self.hubctl("setup", "--checkout", str(REPO), "--data", "sherlock", "--data", "sherlock_adventures",
                    *(["--mirror", mirror] if mirror else []))
        password = secrets.token_urlsafe(12)
        self.hubctl("add-instructor", self.instructor, f"--password={password}")  # it may begin with "-"
        self.passwords[self.instructor] = password
        class_list = self.root / "classlist.csv"
        class_list.write_text("username,name\n" + "".join(f"{s},Student {s}\n" for s in self.students))
        self.hubctl("add-students", str(class_list), "--passwords", str(self.root / "initial-passwords.csv"),
                    *(["--lectures", str(REPO / "lectures")] if lectures else []))
        with open(self.root / "initial-passwords.csv") as fh:
            self.passwords.update({row["username"]: row["initial_password"] for row in csv.DictReader(fh)})
        for student in self.students:
            self._lab_settings(student)

    def _lab_settings(self, user: str) -> None:
        home = Path(pwd.getpwnam(user).pw_dir)
        for name, values in LAB_SETTINGS.items():
            path = home / ".jupyter" / "lab" / "user-settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        entry = pwd.getpwnam(user)
        for folder, dirs, files in os.walk(home / ".jupyter"):
            for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                os.chown(name, entry.pw_uid, entry.pw_gid)

    def as_user(self, user: str, command: str, timeout: float = 600, check: bool = False,
                **env: str) -> subprocess.CompletedProcess:
        """A login shell of user (as `sudo -iu user` gives): the grader's has the course environment."""
        exports = "".join(f"export {k}={v!r}; " for k, v in env.items())
        done = subprocess.run(["runuser", "-l", user, "-c", exports + command], capture_output=True, text=True,
                              timeout=timeout)
        if check:
            assert done.returncode == 0, f"as {user}: {command}\n{done.stdout}\n{done.stderr}"
        return done

    def as_student(self, user: str, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """A student's shell, with what their JupyterLab terminal has (the course environment)."""
        env = {"PATH": f"{HUB_VENV}/bin:/usr/bin:/bin", "JUPYTER_CONFIG_PATH": str(self.root / "etc" / "jupyter"),
               "COURSE_DATA_DIR": str(self.root / "data")}
        return self.as_user(user, command, timeout=timeout, **env)

    def grade(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        """`python -m grading ...` as the grader, in the course folder (the grader's login shell starts there)."""
        return self.as_user(self.grader, "python -m grading " + " ".join(args) + " --course-dir .", timeout=timeout,
                            COURSE_DATA_MIRROR=os.environ.get("COURSE_DATA_MIRROR", ""))

    # --- the hub ---------------------------------------------------------------------------------------

    def start_hub(self) -> None:
        port, hub_port, api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, **self.settings, "RNN_HUB_BIND_URL": f"{self.url}/",
               "PATH": f"{HUB_VENV}/bin:{os.environ.get('PATH', '')}"}
        env = {k: v for k, v in env.items() if not k.startswith(("JUPYTER", "JPY_"))}
        command = [str(HUB_VENV / "bin" / "jupyterhub"), "-f", str(HUB_CONFIG), f"--JupyterHub.hub_port={hub_port}",
                   f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{api_port}"]
        self.log = self.root / "jupyterhub.log"
        started = time.monotonic()
        with open(self.log, "wb") as log:
            self.hub = subprocess.Popen(command, cwd=self.root / "state", env=env, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self._record()
        deadline = started + 240  # the hub waits up to 120 s for the grader's JupyterLab (jupyterhub_config.py)
        while http_status(self.url, "/hub/login") != 200:
            if self.hub.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the hub did not start:\n{self.log.read_text()[-4000:]}")
            time.sleep(0.2)
        self.timings["hub_start_s"] = time.monotonic() - started

    def tear_down(self) -> None:
        """Stop the hub (it stops the servers, the grader's service and the proxy), then remove everything."""
        if self.hub is not None and self.hub.poll() is None:
            self.hub.send_signal(signal.SIGTERM)
            try:
                self.hub.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.hub.pid, signal.SIGKILL)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if (self.root / "jupyterhub.log").exists():
            shutil.copy(self.root / "jupyterhub.log", ARTIFACTS / f"jupyterhub-{self.tag}.log")
        _remove(self.root)


RECORD = "deployment.json"  # in each deployment's root: its owner process, its hub, its accounts and groups


def _process_id(pid: int) -> list | None:
    """(pid, start time): a pid alone may be reused by another process after the first one ended."""
    try:
        return [pid, Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]]
    except (OSError, IndexError):
        return None


def _alive(process: list | None) -> bool:
    return bool(process) and _process_id(process[0]) == process


def sweep_abandoned() -> list[str]:
    """Remove the deployments of runs that were killed outright (SIGKILL, a CI time-out): no finally ran there.

    A deployment whose owner process still runs is another run's, and is left alone.
    """
    swept = []
    for record in Path("/tmp").glob(f"rnn-hub-*/{RECORD}"):
        try:
            owner = json.loads(record.read_text())["owner"]
        except (OSError, ValueError, KeyError):
            continue
        if not _alive(owner):
            _remove(record.parent)
            swept.append(record.parent.name)
    return swept


def _remove(root: Path) -> None:
    """Stop the hub and proxy of a deployment if they still run, remove its accounts, groups and folder."""
    try:
        record = json.loads((root / RECORD).read_text())
    except (OSError, ValueError):
        record = {}
    if _alive(record.get("hub")):
        os.killpg(record["hub"][0], signal.SIGKILL)  # the hub's session: the hub and the grader's service
    try:
        os.kill(int((root / "state" / "jupyterhub-proxy.pid").read_text().strip()), signal.SIGTERM)
    except (OSError, ValueError):
        pass  # already gone with the hub
    for user in record.get("accounts", []):
        _kill_processes_of(user)
        subprocess.run(["userdel", "--remove", user], capture_output=True)
    for group in record.get("groups", []):
        subprocess.run(["groupdel", group], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def _kill_processes_of(user: str) -> None:
    """SIGKILL every process of one of this test's own accounts (servers, kernels, left-overs)."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass
