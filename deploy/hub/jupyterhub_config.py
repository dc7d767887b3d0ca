"""JupyterHub for rnn-course on one Linux machine: real Unix users, one shared course environment.

    sudo /opt/rnn-course/venv/bin/jupyterhub -f deploy/hub/jupyterhub_config.py

Students and instructors log in with their Unix password (PAM) and get JupyterLab as themselves,
from the course environment, with Assignment List and Validate. The grader account's JupyterLab
(Formgrader, the gradebook, solutions) runs as a hub service that only instructors can open, at
/services/<course_id>/, as nbgrader's JupyterHub guide recommends. Formgrader itself is opened in a
browser tab of its own, /services/<course_id>/formgrader: JupyterHub's servers forbid being framed
(frame-ancestors 'none'), which blanks Formgrader's JupyterLab tab. Paths and names: hubctl.Settings.
"""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hubctl import Settings  # noqa: E402
from jupyterhub.services.service import Service  # noqa: E402

c = get_config()  # noqa: F821 - injected by JupyterHub
s = Settings.from_env()
service = s.course_id

c.JupyterHub.bind_url = os.environ.get("RNN_HUB_BIND_URL", "http://:8000")  # put HTTPS in front (see the docs)
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{s.state}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = f"{s.state}/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = f"{s.state}/jupyterhub-proxy.pid"

# Who may log in: members of the students' and instructors' Unix groups (hubctl.py add-students, add-instructor).
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_groups = {s.students_group, s.instructors_group}
c.Authenticator.admin_users = set()  # nobody needs to act as another user; instructors get the role below

# Each user's server runs as that Unix user, from the course environment, in their home folder.
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [f"{s.venv}/bin/jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.environment = s.environment()
c.Spawner.start_timeout = 120  # a busy machine imports JupyterLab slowly
c.Spawner.http_timeout = 120

# The grader account's JupyterLab, as a service: Formgrader and the course folder, opened by instructors.
c.JupyterHub.services = [{
    "name": service,
    "url": f"http://127.0.0.1:{s.grader_port}",
    "command": [f"{s.venv}/bin/jupyterhub-singleuser", f"--ServerApp.root_dir={s.course_dir}"],
    "user": s.grader_name,
    "cwd": str(s.course_dir),
    # HOME: a service would inherit the hub's (root's).
    "environment": {**s.environment(grader=True), "HOME": str(s.course_dir.parent), "USER": s.grader_name,
                    "JUPYTERHUB_DEFAULT_URL": "/lab"},
    "oauth_no_confirm": True,
    "oauth_client_allowed_scopes": [f"access:services!service={service}"],
}]
# The hub exits when a managed service is not up within its timeout (30 s since JupyterHub 6.0); the
# grader's JupyterLab imports as slowly as a student's on a busy machine, so it gets what they get.
if "timeout" in Service.class_trait_names():
    c.JupyterHub.services[0]["timeout"] = c.Spawner.start_timeout
c.JupyterHub.load_roles = [
    {"name": f"formgrade-{service}", "description": "instructors open the grader's JupyterLab",
     "users": s.instructors(), "scopes": [f"access:services!service={service}", "list:users", "read:users"]},
]
