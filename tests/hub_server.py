"""The course server of ``deploy/`` for tests: real Unix accounts (made with ``deploy/accounts.sh``, removed at the
end), JupyterHub started from ``deploy/jupyterhub_config.py`` as ``make hub`` starts it, on 127.0.0.1 ports of its
own, and commands run as one of the accounts (``runuser``), as they would type them in their terminal."""
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import psutil

from autograder import project

DEPLOY = os.path.join(project.ROOT, "deploy")
HUB_ENV = os.environ.get("RNNKIT_HUB_ENV", "/opt/rnnkit-jupyter")   # the Makefile's HUB_ENV
PROXY = os.path.join(DEPLOY, "node_modules", ".bin", "configurable-http-proxy")
PREFIX = "rkh_"    # every account and group a test makes carries it
STUDENTS, GRADERS, COURSE = PREFIX + "students", PREFIX + "graders", PREFIX + "course"


def missing():
    """Why the course server cannot run here (None when it can)."""
    if os.geteuid() != 0:
        return "the course server needs root (it makes Unix accounts and runs JupyterHub as root)"
    for path, fix in ((os.path.join(HUB_ENV, "bin", "jupyterhub"), "make hub-env"), (PROXY, "make hub-env"),
                      (shutil.which("runuser") or "/sbin/runuser", "apt-get install util-linux")):
        if not os.path.exists(path):
            return f"{path} is missing: {fix}"
    return None


def free_port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def home(user):
    return pwd.getpwnam(user).pw_dir


def as_user(user, *command, cwd=None, env=None, check=True, timeout=1800):
    """Runs ``command`` as ``user`` (a login-like environment: their home, a plain PATH plus ``env``); returns the
    finished process (stdout and stderr as text)."""
    base = {"HOME": home(user), "USER": user, "LOGNAME": user, "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8", "TF_CPP_MIN_LOG_LEVEL": "3"}
    base.update(env or {})
    proc = subprocess.run(["runuser", "-u", user, "--", "env", "-i", *(f"{k}={v}" for k, v in base.items()),
                           *command], cwd=cwd or "/", capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{user}: {' '.join(command)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


class Accounts:
    """The course server's Unix accounts: students and graders with passwords (PAM), and the course account with
    its copy of this checkout and its own .venv (``deploy/accounts.sh course``)."""

    def __init__(self, students, graders):
        self.passwords = {name: secrets.token_urlsafe(12) for name in [*students, *graders]}
        self.students, self.graders = list(students), list(graders)

    def make(self):
        for name in self.students:
            self._script("student", name, STUDENTS)
        for name in self.graders:
            self._script("grader", name, GRADERS)
        lines = "".join(f"{name}:{password}\n" for name, password in self.passwords.items())
        subprocess.run(["chpasswd"], input=lines, text=True, check=True)
        self._script("course", COURSE, project.ROOT)
        return self

    @staticmethod
    def _script(*args):
        proc = subprocess.run(["bash", os.path.join(DEPLOY, "accounts.sh"), *args], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, env=dict(os.environ, RNNKIT_HUB_ENV=HUB_ENV))
        if proc.returncode != 0:
            raise AssertionError(f"deploy/accounts.sh {' '.join(args)}: {proc.stdout}\n{proc.stderr}")

    def remove(self):
        names = [*self.students, *self.graders, COURSE]
        uids = set()
        for name in names:
            try:
                uids.add(pwd.getpwnam(name).pw_uid)
            except KeyError:
                pass
        # Whatever the accounts left running (a kernel, a grading service), by pid: userdel refuses otherwise.
        for proc in psutil.process_iter(["pid", "uids"]):
            if proc.info["uids"] and proc.info["uids"].real in uids:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
        time.sleep(0.5)
        for name in names:
            subprocess.run(["userdel", "--remove", name], capture_output=True)
        for group in (STUDENTS, GRADERS):
            subprocess.run(["groupdel", group], capture_output=True)


class Hub:
    """JupyterHub from ``deploy/jupyterhub_config.py`` on free 127.0.0.1 ports, with a state folder and an
    exchange of its own."""

    def __init__(self, workdir):
        self.state = os.path.join(workdir, "hub-state")
        os.makedirs(self.state, mode=0o700, exist_ok=True)
        shared = tempfile.mkdtemp(prefix="rnnkit-hub-", dir=os.environ.get("TMPDIR", "/tmp"))
        os.chmod(shared, 0o755)   # every account reaches the exchange below it (nbgrader makes that one 1777)
        self.shared = shared
        self.exchange = os.path.join(shared, "exchange")
        os.mkdir(self.exchange)
        os.chmod(self.exchange, 0o1777)   # as deploy/jupyter-env.sh makes nbgrader's: root's, open to all, sticky
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(workdir, "jupyterhub.log")
        self.process = None

    def env(self):
        return dict(os.environ, RNNKIT_HUB_ENV=HUB_ENV, RNNKIT_HUB_STUDENTS=STUDENTS, RNNKIT_HUB_GRADERS=GRADERS,
                    RNNKIT_HUB_COURSE_USER=COURSE, RNNKIT_HUB_STATE=self.state, RNNKIT_HUB_PORT=str(self.port),
                    RNNKIT_HUB_SERVICE_PORT=str(free_port()), RNNKIT_HUB_HUB_API_PORT=str(free_port()),
                    RNNKIT_HUB_PROXY_API_PORT=str(free_port()), RNNKIT_HUB_PROXY=PROXY,
                    RNNKIT_HUB_EXCHANGE=self.exchange)

    def start(self):
        log = open(self.log_path, "w")
        self.process = subprocess.Popen([os.path.join(HUB_ENV, "bin", "jupyterhub"), "-f", "jupyterhub_config.py"],
                                        cwd=DEPLOY, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 180
        while True:
            try:
                urllib.request.urlopen(self.url + "/hub/api/", timeout=5)
                return self
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    raise AssertionError("JupyterHub did not start:\n" + self.log()[-3000:])
                time.sleep(0.5)

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)   # the hub stops the servers it started, then the proxy
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._stop_proxy()
        shutil.rmtree(self.shared, ignore_errors=True)

    def _stop_proxy(self):
        """The proxy this hub started, by the pid it recorded: a hub that exits on an error leaves it running."""
        try:
            with open(os.path.join(self.state, "jupyterhub-proxy.pid")) as f:
                proxy = psutil.Process(int(f.read().strip()))
            if any("configurable-http-proxy" in part for part in proxy.cmdline()):
                proxy.terminate()
                proxy.wait(timeout=15)
        except (OSError, ValueError, psutil.Error):
            pass   # no proxy left (the hub stopped it and removed its pid file)
