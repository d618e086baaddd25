#!/usr/bin/env bash
# The Jupyter environment every account of the course server runs (students, TAs, the instructor's own JupyterLab):
# a venv at $1 (default /opt/rnnkit-jupyter) made from Debian's python3 (world-readable, unlike a pyenv under /root)
# and deploy/requirements.txt, so nothing of an rnnkit checkout is in it. Run as root; run again to update.
# - nbgrader's instructor extensions (formgrader, create_assignment) are disabled for this environment, as nbgrader's
#   installation guide describes; the course account's formgrader runs from its own checkout's .venv.
# - The exchange every account's nbgrader uses is set for this environment ($1/etc/jupyter/nbgrader_config.py, read
#   by nbgrader like /etc/jupyter/nbgrader_config.py but only by the accounts that run this environment): $2
#   (default nbgrader's own), or the hub's RNNKIT_HUB_EXCHANGE, which the hub hands to every server it starts.
set -euo pipefail
ENV="${1:-/opt/rnnkit-jupyter}"
EXCHANGE="${2:-/usr/local/share/nbgrader/exchange}"
PYTHON="${PYTHON:-/usr/bin/python3}"
here="$(cd "$(dirname "$0")" && pwd)"
umask 022
test -x "$ENV/bin/python" || "$PYTHON" -m venv "$ENV"
"$ENV/bin/python" -m pip install --quiet --upgrade pip
# The wheels are kept in $ENV/wheels (world-readable): deploy/accounts.sh makes the course account's .venv from the
# same files instead of downloading TensorFlow and JupyterLab again.
"$ENV/bin/python" -m pip download --quiet --dest "$ENV/wheels" -r "$here/requirements.txt"
"$ENV/bin/python" -m pip install --quiet --no-index --find-links "$ENV/wheels" -r "$here/requirements.txt"
for ext in formgrader create-assignment; do
  "$ENV/bin/jupyter" labextension disable --level=sys_prefix "@jupyter/nbgrader:$ext" >/dev/null 2>&1
  "$ENV/bin/jupyter" labextension lock --level=sys_prefix "@jupyter/nbgrader:$ext" >/dev/null 2>&1   # JupyterLab 4.1+
done
"$ENV/bin/jupyter" server extension disable --sys-prefix nbgrader.server_extensions.formgrader >/dev/null 2>&1
# JupyterLab's defaults for everyone: no news or update checks from outside (a course server may be offline), and
# every cell of a notebook drawn (no windowing), so that a plot scrolled to is there.
mkdir -p "$ENV/share/jupyter/lab/settings"
cat > "$ENV/share/jupyter/lab/settings/overrides.json" <<'JSON'
{
  "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false},
  "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"}
}
JSON
mkdir -p "$ENV/etc/jupyter" "$EXCHANGE"
chmod 1777 "$EXCHANGE"   # as nbgrader makes it: everyone may create, nobody may remove another's
cat > "$ENV/etc/jupyter/nbgrader_config.py" <<PY
import os
c = get_config()
c.Exchange.root = os.environ.get("RNNKIT_HUB_EXCHANGE", "$EXCHANGE")
PY
chmod -R a+rX "$ENV"
