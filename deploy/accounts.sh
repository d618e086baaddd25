#!/usr/bin/env bash
# Unix accounts of the course server, as root (a university's directory may make them instead: the hub only needs
# them to exist, with a password PAM accepts, and to be in the two groups):
#   deploy/accounts.sh student NAME [GROUP]     a student: member of GROUP (rnnkit-students)
#   deploy/accounts.sh grader NAME [GROUP]      the instructor or a TA: member of GROUP (rnnkit-graders), who may
#                                               open formgrader (the hub reads the group when it starts)
#   deploy/accounts.sh course NAME [CHECKOUT]   the course account that owns the course (nbgrader's
#                                               "grader-course101"): CHECKOUT's files (default: this one's) are
#                                               copied to ~NAME/rnnkit, whose .venv (with JupyterHub's single-user
#                                               server) is made as NAME, from Debian's python3 and the wheels
#                                               that make hub-env keeps in $RNNKIT_HUB_ENV/wheels
# Homes are private (0700): Debian's useradd leaves them 0755, readable by every other account.
set -euo pipefail
kind="$1" name="$2"
account() {   # NAME [GROUP]: the account, its private home, its group
  if [ -n "${2:-}" ]; then getent group "$2" >/dev/null || groupadd "$2"; fi
  id -u "$1" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash -K HOME_MODE=0700 ${2:+--groups "$2"} "$1"
  if [ -n "${2:-}" ]; then usermod --append --groups "$2" "$1"; fi
  chmod 0700 "$(getent passwd "$1" | cut -d: -f6)"
}
case "$kind" in
  student) account "$name" "${3:-rnnkit-students}" ;;
  grader)  account "$name" "${3:-rnnkit-graders}" ;;
  course)
    account "$name"
    src="${3:-$(cd "$(dirname "$0")/.." && pwd)}"
    home="$(getent passwd "$name" | cut -d: -f6)"
    runuser -u "$name" -- mkdir -p "$home/rnnkit"
    # the checkout's own files (tracked and new, not what .gitignore names: no .venv, no course), as NAME's
    git -C "$src" ls-files -z --cached --others --exclude-standard \
      | (cd "$src" && tar --null --files-from=- --create --file=- 2>/dev/null) \
      | runuser -u "$name" -- tar --extract --file=- --directory="$home/rnnkit"
    # the .venv first gets the Jupyter environment's own wheels (TensorFlow, JupyterLab, nbgrader: no second
    # download); make install then adds what rnnkit needs besides
    wheels="${RNNKIT_HUB_ENV:-/opt/rnnkit-jupyter}/wheels"
    if [ -d "$wheels" ]; then
      runuser -u "$name" -- sh -c "cd '$home/rnnkit' && { test -x .venv/bin/python || /usr/bin/python3 -m venv .venv; } \
        && .venv/bin/python -m pip install --quiet --no-index --find-links '$wheels' -r deploy/requirements.txt"
    fi
    runuser -u "$name" -- env HOME="$home" PATH=/usr/local/bin:/usr/bin:/bin \
      make --no-print-directory -C "$home/rnnkit" install PYTHON=/usr/bin/python3 EXTRAS="[hub]" ;;
  *) echo "usage: $0 student|grader|course NAME [GROUP|CHECKOUT]" >&2; exit 2 ;;
esac
