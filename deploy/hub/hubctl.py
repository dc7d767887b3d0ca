"""Set up rnn-course on a JupyterHub machine: accounts, the exchange, the course folder, Jupyter settings.

Run as root with the course's environment (standard library only, so any python3 works):

    python3 deploy/hub/hubctl.py setup --checkout /root/rnn-course      # once, and after an upgrade
    python3 deploy/hub/hubctl.py add-instructor alice
    python3 deploy/hub/hubctl.py add-students classlist.csv            # also later, for late joiners

Every path and name comes from ``Settings`` (defaults below, each overridable with RNN_HUB_<NAME>);
deploy/hub/jupyterhub_config.py reads the same settings, so the two never disagree.
"""
from __future__ import annotations

import argparse
import csv
import grp
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, fields
from pathlib import Path

# Unix user names that are also usable nbgrader student ids (no '+', which the exchange uses as a separator).
USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# nbgrader's lab extension plugins and server extensions that only the grader may have.
GRADER_ONLY_PLUGINS = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                       "@jupyter/nbgrader:course-list")
GRADER_ONLY_SERVER = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")


@dataclass(frozen=True)
class Settings:
    """Where everything lives; each field can be set with RNN_HUB_<FIELD> (e.g. RNN_HUB_EXCHANGE)."""

    course_id: str = "rnn-course"
    venv: str = "/opt/rnn-course/venv"  # the environment every server runs: jupyterhub, the course, nbgrader
    data: str = "/opt/rnn-course/data"  # the data sets, fetched once, read by everyone (COURSE_DATA_DIR)
    etc: str = "/etc/rnn-course"  # etc/jupyter: the Jupyter and nbgrader settings of every server
    exchange: str = "/srv/nbgrader/exchange"  # nbgrader's default exchange root
    state: str = "/srv/jupyterhub"  # the hub's database and cookie secret
    grader: str = ""  # default: grader-<course_id>, nbgrader's name for the shared grader account
    students_group: str = "rnn-course-students"
    instructors_group: str = "rnn-course-instructors"
    grader_port: str = "9999"  # the grader's Jupyter server (a hub service) on 127.0.0.1
    homes: str = "/home"

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(**{f.name: os.environ[f"RNN_HUB_{f.name.upper()}"] for f in fields(cls)
                      if os.environ.get(f"RNN_HUB_{f.name.upper()}")})

    @property
    def grader_name(self) -> str:
        return self.grader or f"grader-{self.course_id}"

    @property
    def jupyter_config(self) -> Path:
        return Path(self.etc) / "jupyter"

    @property
    def grader_config(self) -> Path:
        """Settings only the grader's servers read, before jupyter_config: Formgrader back on."""
        return Path(self.etc) / "jupyter-grader"

    @property
    def course_dir(self) -> Path:
        """The grader's course folder: nbgrader_config.py, solutions/, the gradebook, submitted/, feedback/."""
        return Path(self.homes) / self.grader_name / self.course_id

    def environment(self, grader: bool = False) -> dict[str, str]:
        """What every server the hub starts (and the grader's login shell) needs in its environment.

        JUPYTER_CONFIG_PATH outranks a user's own ~/.jupyter, so the grader's servers put
        grader_config (Formgrader on) in front of the shared settings (Formgrader off).
        """
        folders = [self.grader_config, self.jupyter_config] if grader else [self.jupyter_config]
        return {"PATH": f"{self.venv}/bin:/usr/local/bin:/usr/bin:/bin",
                "JUPYTER_CONFIG_PATH": os.pathsep.join(map(str, folders)), "COURSE_DATA_DIR": self.data}

    def instructors(self) -> list[str]:
        try:
            return sorted(grp.getgrnam(self.instructors_group).gr_mem)
        except KeyError:
            return []


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True)


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def ensure_group(name: str) -> None:
    try:
        grp.getgrnam(name)
    except KeyError:
        run("groupadd", name)


def ensure_user(name: str, settings: Settings, comment: str = "", groups: tuple[str, ...] = ()) -> bool:
    """Create a Unix user with a private home (0700); True when it was new."""
    new = not user_exists(name)
    if new:
        run("useradd", "--create-home", "--base-dir", settings.homes, "--shell", "/bin/bash",
            "--comment", comment or name, name)
    for group in groups:
        run("usermod", "--append", "--groups", group, name)
    home = Path(pwd.getpwnam(name).pw_dir)
    os.chmod(home, 0o700)  # other students must not read a student's work or nbgrader cache
    return new


def set_password(name: str, password: str) -> None:
    subprocess.run(["chpasswd"], input=f"{name}:{password}\n", text=True, check=True)


def chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for folder, dirs, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, entry.pw_uid, entry.pw_gid)


def write_json(path: Path, value: dict, owner: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=1) + "\n")
    path.chmod(0o644)
    if owner:
        chown_tree(path.parent, owner)


# --- setup --------------------------------------------------------------------------------------------


def jupyter_settings(settings: Settings) -> None:
    """The Jupyter settings every hub server reads (JUPYTER_CONFIG_PATH): the exchange, no Formgrader."""
    folder = settings.jupyter_config
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nbgrader_config.py").write_text(
        "# Written by deploy/hub/hubctl.py: the course and the exchange every student and the grader share.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.course_id = {settings.course_id!r}\n"
        f"c.Exchange.root = {settings.exchange!r}\n")
    # Students get Assignment List and Validate; Formgrader, Create Assignment and Course List only the
    # grader (grader_config switches them back on). This folder outranks the environment's own settings.
    write_json(folder / "labconfig" / "page_config.json",
               {"disabledExtensions": {name: True for name in GRADER_ONLY_PLUGINS}})
    write_json(folder / "jupyter_server_config.json",
               {"ServerApp": {"jpserver_extensions": {name: False for name in GRADER_ONLY_SERVER}}})
    grader = settings.grader_config
    write_json(grader / "labconfig" / "page_config.json",
               {"disabledExtensions": {name: False for name in GRADER_ONLY_PLUGINS}})
    write_json(grader / "jupyter_server_config.json",
               {"ServerApp": {"jpserver_extensions": {name: True for name in GRADER_ONLY_SERVER}}})
    for top in (folder, grader):
        for path in [top, *top.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def grader_account(settings: Settings, checkout: Path) -> None:
    """The shared grader account, its course folder (solutions, config) and its own Jupyter settings."""
    name = settings.grader_name
    ensure_user(name, settings, comment=f"{settings.course_id} grader")
    home = Path(pwd.getpwnam(name).pw_dir)
    course = settings.course_dir
    if not (course / "nbgrader_config.py").exists():
        (course / "solutions").mkdir(parents=True, exist_ok=True)
        shutil.copy(checkout / "nbgrader_config.py", course)
        for lab in sorted((checkout / "solutions").iterdir()):
            if lab.is_dir():
                shutil.copytree(lab, course / "solutions" / lab.name, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints", "__pycache__"))
    course_secret(home)
    profile = home / ".profile"
    marker = "# rnn-course (hubctl.py)"
    lines = [line for line in (profile.read_text().splitlines() if profile.exists() else []) if marker not in line]
    lines += [f"export {k}={v!r}  {marker}" for k, v in settings.environment(grader=True).items()]
    lines += [f"cd {str(course)!r}  {marker}"]
    profile.write_text("\n".join(lines) + "\n")
    chown_tree(home, name)


def course_secret(home: Path) -> None:
    """The grader's course secret (grading/secret.py), made now so that it is in the first backup.

    It decides every submission's hidden-test inputs: kept, a regrade gives the same grades.
    """
    path = home / ".config" / "rnn-course" / "grading-secret"
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")


def exchange(settings: Settings) -> None:
    """nbgrader's exchange with nbgrader's permissions, plus sticky bits so no one renames another's folder.

    nbgrader makes the root 0777 and inbound 2733; without the sticky bit any user could rename the
    course's folder (or, knowing its name, another student's submission) and put their own in its place.
    nbgrader compares only the 0777 bits, so it accepts these folders as its own.
    """
    grader = pwd.getpwnam(settings.grader_name)
    root = Path(settings.exchange)
    root.mkdir(parents=True, exist_ok=True)
    os.chown(root, 0, 0)
    root.chmod(0o1777)
    course = root / settings.course_id
    for path, mode in ((course, 0o755), (course / "outbound", 0o755), (course / "inbound", 0o3733),
                       (course / "feedback", 0o711)):
        path.mkdir(exist_ok=True)
        os.chown(path, grader.pw_uid, grader.pw_gid)
        path.chmod(mode)


def fetch_data(settings: Settings, names: list[str], mirror: str | None) -> None:
    """Fetch the course's data sets once, as root, into the shared read-only folder."""
    env = {**os.environ, "COURSE_DATA_DIR": settings.data}
    if mirror:
        env["COURSE_DATA_MIRROR"] = mirror
    code = ("import sys\nfrom helpers.data import REGISTRY, fetch\n"
            "for name in sys.argv[1:] or list(REGISTRY):\n    print('data:', fetch(name))\n")
    subprocess.run([f"{settings.venv}/bin/python", "-c", code, *names], env=env, check=True)
    for folder, dirs, files in os.walk(settings.data):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o644)


def setup(settings: Settings, args) -> int:
    for group in (settings.students_group, settings.instructors_group):
        ensure_group(group)
    checkout = Path(args.checkout).resolve()
    if not (checkout / "nbgrader_config.py").is_file():
        sys.exit(f"--checkout {checkout}: not the course's repository (no nbgrader_config.py).")
    jupyter_settings(settings)
    grader_account(settings, checkout)
    exchange(settings)
    if not args.no_data:
        fetch_data(settings, args.data or [], args.mirror)
    Path(settings.state).mkdir(parents=True, exist_ok=True)
    Path(settings.state).chmod(0o700)  # the hub's database and cookie secret
    print(f"Set up {settings.course_id}: grader account {settings.grader_name} with its course folder "
          f"{settings.course_dir}, exchange {settings.exchange}, Jupyter settings {settings.jupyter_config}.")
    return 0


# --- people -------------------------------------------------------------------------------------------


def read_class_list(path: Path) -> list[tuple[str, str]]:
    """(username, full name) from a CSV with a `username` column (and optionally `name`), or one name a line."""
    text = path.read_text(encoding="utf-8-sig")
    first = text.splitlines()[0] if text.strip() else ""
    if "username" in first.lower().split(","):
        rows = [(r.get("username", "").strip(), (r.get("name") or "").strip()) for r in csv.DictReader(text.splitlines())]
    else:
        rows = [(line.split(",")[0].strip(), ",".join(line.split(",")[1:]).strip())
                for line in text.splitlines() if line.strip() and not line.startswith("#")]
    bad = [u for u, _ in rows if not USERNAME.match(u)]
    if bad:
        sys.exit(f"{path}: not usable as Unix user names (lower-case letters, digits, _ and -, at most 32): "
                 + ", ".join(repr(b) for b in bad) + ". Fix those lines; nobody was added.")
    return rows


def add_students(settings: Settings, args) -> int:
    rows = read_class_list(Path(args.class_list))
    ensure_group(settings.students_group)
    passwords = []
    for username, name in rows:
        if ensure_user(username, settings, comment=name, groups=(settings.students_group,)):
            password = secrets.token_urlsafe(9)
            set_password(username, password)
            passwords.append((username, password))
            if args.lectures:
                home = Path(pwd.getpwnam(username).pw_dir)
                shutil.copytree(args.lectures, home / "lectures", dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "checkpoints", "__pycache__"))
                chown_tree(home / "lectures", username)
    out = Path(args.passwords)
    old = out.read_text() if out.exists() else "username,initial_password\n"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(old + "".join(f"{u},{p}\n" for u, p in passwords))
    print(f"{len(rows)} student(s) in {args.class_list}: {len(passwords)} new account(s), initial passwords "
          f"in {out} (mode 0600; students change theirs with `passwd` in a JupyterLab terminal).")
    return 0


def add_instructor(settings: Settings, args) -> int:
    ensure_group(settings.instructors_group)
    new = ensure_user(args.username, settings, groups=(settings.instructors_group,))
    if new and args.password:
        set_password(args.username, args.password)
    print(f"{args.username} is an instructor of {settings.course_id}: after the hub restarts they open "
          f"the grader's JupyterLab at /services/{settings.course_id}/.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("setup", help="groups, grader account, course folder and secret, exchange, Jupyter settings, data")
    p.add_argument("--checkout", required=True, help="the course's private repository (solutions/, nbgrader_config.py)")
    p.add_argument("--data", action="append", help="a data set to fetch (repeatable; default: all)")
    p.add_argument("--mirror", help="COURSE_DATA_MIRROR for fetching the data")
    p.add_argument("--no-data", action="store_true", help="do not fetch data sets")
    p = sub.add_parser("add-students", help="Unix accounts for a class list (CSV with a username column)")
    p.add_argument("class_list")
    p.add_argument("--lectures", help="a folder of lecture notebooks to copy into each new student's home")
    p.add_argument("--passwords", default="initial-passwords.csv", help="where the new accounts' passwords go")
    p = sub.add_parser("add-instructor", help="a Unix account in the instructors' group")
    p.add_argument("username")
    p.add_argument("--password", help="set this password on a new account (else set one with passwd)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("hubctl.py makes Unix accounts and system folders: run it as root (sudo).")
    settings = Settings.from_env()
    return {"setup": setup, "add-students": add_students, "add-instructor": add_instructor}[args.command](settings, args)


if __name__ == "__main__":
    sys.exit(main())
