#!/usr/bin/env bash
# Checks of Ward's deployment files (infra/k8s, infra/kafka/strimzi, infra/observability,
# Dockerfile, docker-compose.yml). Needs python3 (>= 3.11) and kubectl (with kustomize);
# no cluster and no Docker engine.
#
#   bash infra/tests/run.sh            # all checks
#   bash infra/tests/run.sh -k network # pytest arguments pass through
#
# Python packages are pinned in requirements.txt and installed once into a virtual
# environment under ${XDG_CACHE_HOME:-$HOME/.cache}/ward/infra-venv; it is rebuilt when
# requirements.txt changes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/ward/infra-venv"
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

for tool in python3 kubectl; do
  command -v "$tool" >/dev/null || { echo "infra/tests: $tool is required" >&2; exit 1; }
done
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "infra/tests: python3 >= 3.11 is required (tomllib)" >&2; exit 1; }

want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  echo "infra/tests: installing pinned packages into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --requirement "$requirements"
  echo "$want" > "$stamp"
fi

cd "$here"
exec "$venv/bin/python" -m pytest -p no:cacheprovider -q "$@"
