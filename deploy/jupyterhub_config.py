"""JupyterHub for an rnnkit course on one machine: ``make hub`` starts it (README.md, "Running a course on JupyterHub",
sets the machine up).

- Accounts are the machine's Unix accounts, logged in with PAM (their own password). The hub runs as root and
  starts each user's JupyterLab as that user, from the shared Jupyter environment (``RNNKIT_HUB_ENV``, made by
  ``make hub-env`` from ``deploy/requirements.txt``), where nbgrader's instructor extensions are disabled.
- Students are the members of the Unix group ``RNNKIT_HUB_STUDENTS``; the instructor and the TAs are the members of
  ``RNNKIT_HUB_GRADERS``.
- The course belongs to a course account (``RNNKIT_HUB_COURSE_USER``, nbgrader's "grader-course101"): its home
  holds the rnnkit checkout with its own ``.venv`` and the course folder, both private to it. Formgrader is that
  account's Jupyter server, run by the hub as the service ``rnnkit`` (``/services/rnnkit/formgrader``) that only the
  graders may open: nbgrader's documented set-up for a class with several graders, so that TAs grade without a
  Unix right on the course and nobody but the course account runs rnnkit.

Every setting below is read from the environment so that ``make hub`` and the tests start the same file.
"""
import grp
import os
import pwd

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)


def _setting(name, default):
    return os.environ.get(f"RNNKIT_HUB_{name}", default)


ENV = _setting("ENV", "/opt/rnnkit-jupyter")                 # the Jupyter environment every account runs
STUDENTS = _setting("STUDENTS", "rnnkit-students")          # Unix group of the students
GRADERS = _setting("GRADERS", "rnnkit-graders")             # Unix group of the instructor and the TAs
COURSE_USER = _setting("COURSE_USER", "rnnkit-course")      # the account that owns the course and runs formgrader
COURSE_HOME = pwd.getpwnam(COURSE_USER).pw_dir
KIT = _setting("KIT", os.path.join(COURSE_HOME, "rnnkit"))   # the course account's rnnkit checkout (with .venv)
COURSE_DIR = _setting("COURSE_DIR", os.path.join(KIT, "course"))
STATE = _setting("STATE", "/var/lib/rnnkit-hub")           # the hub's database, cookie secret (root only)
PORT = int(_setting("PORT", "8000"))
SERVICE_PORT = int(_setting("SERVICE_PORT", "8010"))     # formgrader's server, behind the proxy
HUB_API_PORT = int(_setting("HUB_API_PORT", "8081"))     # the hub itself, behind the proxy
PROXY_API_PORT = int(_setting("PROXY_API_PORT", "8001"))  # the proxy's REST API, the hub's alone
PROXY = _setting("PROXY", "configurable-http-proxy")        # deploy/node_modules/.bin/configurable-http-proxy
EXCHANGE = _setting("EXCHANGE", "/usr/local/share/nbgrader/exchange")   # nbgrader's default, shared by everyone

# --- the hub: 127.0.0.1 only (put a TLS reverse proxy in front of it to serve a campus) ---
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = HUB_API_PORT
c.ConfigurableHTTPProxy.command = [PROXY]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
c.ConfigurableHTTPProxy.pid_file = os.path.join(STATE, "jupyterhub-proxy.pid")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(STATE, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(STATE, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(STATE, "jupyterhub.pid")

# --- who may log in: PAM (the accounts' own passwords), students and graders only ---
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(grp.getgrnam(STUDENTS).gr_mem) | set(grp.getgrnam(GRADERS).gr_mem)
c.Authenticator.admin_users = set()          # nobody administers the hub through the web; root does, on the machine
c.PAMAuthenticator.open_sessions = False     # no login session (utmp, systemd) per JupyterLab

# --- each user's JupyterLab, as that user, from the shared environment ---
c.Spawner.cmd = [os.path.join(ENV, "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.environment = {"PATH": os.path.join(ENV, "bin") + ":/usr/local/bin:/usr/bin:/bin",
                         "RNNKIT_HUB_EXCHANGE": EXCHANGE,   # read by the environment's nbgrader_config.py
                         "TF_CPP_MIN_LOG_LEVEL": "3"}
# Only the environment's own Jupyter configuration, never one a user left in ~/.jupyter (which could re-enable
# what is disabled for the environment); nbgrader's own ~/.jupyter/nbgrader_config.py is still read by nbgrader.
c.Spawner.disable_user_config = True
c.Spawner.http_timeout = 120                 # a loaded 2-core machine takes tens of seconds to start a JupyterLab
c.Spawner.start_timeout = 180

# --- formgrader: the course account's Jupyter server, a service only the graders may open ---
GROUP = "formgrader-rnnkit"
c.JupyterHub.load_groups = {GROUP: {"users": sorted(grp.getgrnam(GRADERS).gr_mem)}}
c.JupyterHub.load_roles = [{"name": GROUP, "groups": [GROUP],
                            "scopes": ["access:services!service=rnnkit", "read:services!service=rnnkit"]}]
c.JupyterHub.services = [{
    "name": "rnnkit",
    "url": f"http://127.0.0.1:{SERVICE_PORT}",
    "command": [os.path.join(KIT, ".venv", "bin", "jupyterhub-singleuser"), f"--ServerApp.root_dir={COURSE_DIR}",
                "--ServerApp.default_url=/formgrader"],
    "user": COURSE_USER,
    "cwd": COURSE_DIR,
    "environment": {"PATH": os.path.join(KIT, ".venv", "bin") + ":/usr/local/bin:/usr/bin:/bin",
                    "HOME": COURSE_HOME, "TF_CPP_MIN_LOG_LEVEL": "3"},
    "oauth_no_confirm": True,
    "timeout": 240,   # seconds the hub waits for it at start (30 by default: too few on a loaded 2-core machine)
}]
