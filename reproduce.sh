#!/usr/bin/env bash
# One entry point for tf-varattn. Usage: ./reproduce.sh SUBCOMMAND [extra flags]
#   setup   create .venv and install the package (editable) into it, if missing
#   test    run the test suite (the README's test command; what .ci/run runs)
# Every subcommand runs `setup` first, so a fresh clone needs no other step.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${VARATTN_VENV:-$ROOT/.venv}
PYTHON=${PYTHON:-python3}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

setup() {
  if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import tf_varattn, pytest" 2>/dev/null; then
    echo "[setup] creating $VENV and installing tf-varattn (a few minutes, once)"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e ".[test]"
  fi
}

usage() {
  awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
}

command=${1:-}
[ $# -gt 0 ] && shift
case "$command" in
  setup) setup ;;
  test) setup; exec "$VENV/bin/python" -m pytest "$@" ;;
  -h|--help|help|"") usage ;;
  *) echo "error: unknown subcommand '$command'." >&2; usage >&2; exit 2 ;;
esac
