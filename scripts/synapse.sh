#!/usr/bin/env sh
# Install matrix-synapse into its own virtual environment, .synapse-venv in the repo root,
# for the Matrix integration tests. Idempotent: does nothing when it is already there.
# Synapse's pins are not ours, so it never goes into the project's environment.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.synapse-venv"
PYTHON=${PYTHON:-python3}

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import synapse" 2>/dev/null; then
    echo "synapse: already installed in .synapse-venv"
    exit 0
fi

echo "synapse: creating .synapse-venv (about 20-60 s)"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "matrix-synapse${SYNAPSE_VERSION:+==$SYNAPSE_VERSION}"
"$VENV/bin/python" -c "import synapse; print('synapse: installed', synapse.__version__)"
