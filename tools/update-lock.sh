#!/usr/bin/env bash
# Regenerates tools/deps/python-default.lock from tools/deps/*/requirements.txt.
# The wheels are downloaded with the machine's pip configuration (so the local
# CPU torch wheel is found) and constrained to the CPU torch build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
wheels="${PANTS_OFFLINE_HOME:-$HOME/.cache/pants-offline}/wheels"
mkdir -p "$wheels"
reqs=()
for f in "$root"/tools/deps/*/requirements.txt; do reqs+=(-r "$f"); done
python3.11 -m pip download -q --only-binary=:all: -d "$wheels" "${reqs[@]}" -c "$root/tools/deps/constraints-cpu.txt"
"$root/pants" generate-lockfiles
for lock in "$root"/tools/deps/*.lock; do
  if grep -oE '[a-z+]+://[^"]*' "$lock" | grep -v '^file://\${WHEELS_DIR}/'; then
    echo "$lock names a host other than the wheelhouse" >&2
    exit 1
  fi
done
echo "lockfiles updated"
