# Sourced by the scripts that need a Python tool: ensure_venv DIR COMMAND REQUIREMENT installs
# REQUIREMENT into the virtual environment DIR unless DIR/bin/COMMAND is there; exits 3 (with
# the reason) when it cannot (no python3 venv, no PyPI).
ensure_venv() {
  local venv="$1" command="$2" requirement="$3"
  [ -x "$venv/bin/$command" ] && return 0
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet "$requirement"; }; then
    echo "$(basename "$0"): cannot install $requirement into $venv" >&2
    rm -rf "$venv"
    exit 3
  fi
}
