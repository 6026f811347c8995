#!/usr/bin/env bash
# Sets up everything `./pants` needs on an offline Linux x86_64 machine that can
# reach only the package registries. Idempotent: each step is skipped when done.
#
#   1. a CPython 3.9 to run Pants 2.17.1 itself (its wheels are cp39-only):
#      $PANTS_BOOTSTRAP_PYTHON, python3.9 on PATH, pyenv 3.9.x, or else CPython
#      3.9.2 built from the Debian bullseye source package (python.org is not
#      reachable; the orig tarball is the unmodified upstream release);
#   2. a virtualenv with pantsbuild.pants==2.17.1;
#   3. the `pex` CLI zipapp Pants would download from GitHub, built from the
#      PyPI pex wheel and checked against the sha256 pinned in pants.toml;
#   4. a CPython 3.11 for the code under test;
#   5. the local wheelhouse that the committed lockfiles point at
#      (file://${WHEELS_DIR}/...), filled from the registries and hash-checked,
#      plus the pip/setuptools/wheel wheels pex bootstraps.
#
# Usage: tools/bootstrap-pants.sh [LOCKFILE...]   (./pants calls it as needed)
set -euo pipefail

PANTS_VERSION="2.17.1"
PEX_VERSION="2.1.137"
PEX_SHA256="a8778b91ca860fc57e11593813dc9700e15906db7d21167d3cde1ea8fbcddd3c"
HOME_DIR="${PANTS_OFFLINE_HOME:-$HOME/.cache/pants-offline}"
VENV="$HOME_DIR/venv-$PANTS_VERSION"
PEX_OUT="$HOME_DIR/pex-v$PEX_VERSION"
WHEELS="$HOME_DIR/wheels"

say() { printf '[bootstrap] %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

mkdir -p "$HOME_DIR"
# The machine-wide pip config adds a constraint file that breaks pex's pip; keep
# every pip call here independent of machine settings.
export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1
[ -f /etc/ssl/certs/ca-certificates.crt ] && export PIP_CERT=/etc/ssl/certs/ca-certificates.crt

is_py() { [ -x "$1" ] && "$1" -c "import sys,ssl,sqlite3,ctypes,zlib; sys.exit(sys.version_info[:2]!=($2))" 2>/dev/null; }

find_python() {  # $1 = "3.9" -> prints an interpreter path
  local want="$1" tuple="${1/./,}" c
  for c in "${PANTS_BOOTSTRAP_PYTHON:-}" "$(command -v "python$want" 2>/dev/null || true)" \
           "$HOME"/.pyenv/versions/"$want".*/bin/"python$want" "/usr/bin/python$want" \
           "/usr/local/bin/python$want" "$HOME_DIR/cpython-$want"*/bin/"python$want"; do
    [ -n "$c" ] || continue
    if [[ "$c" == */shims/* ]]; then c="$(pyenv which "python$want" 2>/dev/null || true)"; fi
    if [ -n "$c" ] && is_py "$c" "$tuple"; then echo "$c"; return 0; fi
  done
  return 1
}

build_py39_from_debian_source() {
  local prefix="$HOME_DIR/cpython-3.9.2" d="$HOME_DIR/apt-bullseye" uri pb
  if is_py "$prefix/bin/python3.9" "3,9"; then echo "$prefix/bin/python3.9"; return 0; fi
  say "no CPython 3.9 here: building 3.9.2 from the Debian bullseye source package (6-13 min on 2 cores)"
  apt-get install -y -q build-essential libssl-dev zlib1g-dev libbz2-dev libreadline-dev \
      libsqlite3-dev libffi-dev liblzma-dev xz-utils >/dev/null 2>&1 || say "WARNING: installing build dependencies failed"
  uri="$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
  [ -n "$uri" ] || uri="$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
  [ -n "$uri" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources; set PANTS_BOOTSTRAP_PYTHON to a CPython 3.9"
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/src" "$d/parts" "$d/tarballs"
  printf 'Types: deb-src\nURIs: %s\nSuites: bullseye\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" > "$d/parts/bullseye.sources"
  local apt_opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$d/parts"
                  -o "Dir::State::Lists=$d/lists" -o "Dir::Cache=$d/cache")
  say "fetching the python3.9 source package (private apt lists in $d)"
  apt-get "${apt_opts[@]}" update >/dev/null
  (cd "$d/src" && apt-get "${apt_opts[@]}" source --download-only python3.9 >/dev/null 2>&1)
  cp "$d/src/python3.9_3.9.2.orig.tar.xz" "$d/tarballs/Python-3.9.2.tar.xz"
  if command -v pyenv >/dev/null 2>&1 && pb="$(pyenv root)/plugins/python-build/bin/python-build" && [ -x "$pb" ]; then
    PYTHON_BUILD_CACHE_PATH="$d/tarballs" "$pb" 3.9.2 "$prefix" >&2
  else
    local work; work="$(mktemp -d)"
    tar -C "$work" -xf "$d/tarballs/Python-3.9.2.tar.xz"
    (cd "$work/Python-3.9.2" && ./configure -q --prefix="$prefix" >&2 && make -s -j"$(nproc)" >&2 && make -s install >&2)
    rm -rf "$work"
  fi
  is_py "$prefix/bin/python3.9" "3,9" || die "building CPython 3.9.2 failed"
  echo "$prefix/bin/python3.9"
}

# 1 + 2. Pants in its own venv --------------------------------------------------
if [ -x "$VENV/bin/pants" ] && [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("pantsbuild.pants"))' 2>/dev/null)" = "$PANTS_VERSION" ]; then
  say "ok: Pants $PANTS_VERSION in $VENV"
else
  PY39="$(find_python 3.9 || build_py39_from_debian_source)"
  say "CPython 3.9 for Pants: $PY39"
  rm -rf "$VENV"
  say "installing pantsbuild.pants==$PANTS_VERSION into $VENV"
  "$PY39" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q "pip<24"
  "$VENV/bin/python" -m pip install -q "pantsbuild.pants==$PANTS_VERSION" "pex==$PEX_VERSION"
fi

# 3. pex CLI --------------------------------------------------------------------
if [ -f "$PEX_OUT" ] && [ "$(sha256sum "$PEX_OUT" | cut -d' ' -f1)" = "$PEX_SHA256" ]; then
  say "ok: pex CLI $PEX_OUT"
else
  say "building the pex v$PEX_VERSION CLI from the PyPI wheel"
  tmp="$(mktemp -d)"
  "$VENV/bin/python" -m pip download -q --no-deps "pex==$PEX_VERSION" -d "$tmp/wheels"
  "$VENV/bin/pex" "pex==$PEX_VERSION" -c pex -o "$tmp/pex" --python-shebang '/usr/bin/env python3' \
      --no-pypi --find-links "$tmp/wheels"
  got="$(sha256sum "$tmp/pex" | cut -d' ' -f1)"
  [ "$got" = "$PEX_SHA256" ] || die "pex CLI sha256 $got differs from the pinned $PEX_SHA256 (pants.toml [pex-cli])"
  mv "$tmp/pex" "$PEX_OUT"; chmod 0755 "$PEX_OUT"; rm -rf "$tmp"
fi

# 4. CPython 3.11 for the code under test -----------------------------------------
if PY311="$(find_python 3.11)"; then
  say "ok: CPython 3.11 for tests: $PY311"
else
  say "no CPython 3.11: installing Debian's python3.11"
  apt-get install -y -q python3.11 python3.11-venv >/dev/null
  PY311="$(find_python 3.11)" || die "no usable CPython 3.11"
fi

# 5. wheelhouse -------------------------------------------------------------------
mkdir -p "$WHEELS"
for lock in "$@"; do
  [ -f "$lock" ] || die "no such lockfile: $lock"
  say "checking the wheelhouse $WHEELS against $lock"
  "$PY311" - "$lock" "$WHEELS" <<'PY'
import hashlib, json, os, subprocess, sys, urllib.parse
lock, wheels = sys.argv[1], sys.argv[2]
data = json.loads("".join(l for l in open(lock) if not l.lstrip().startswith("//")))
want = {}
for res in data["locked_resolves"]:
    for req in res["locked_requirements"]:
        for art in req["artifacts"]:
            if art["url"].startswith("file://${WHEELS_DIR}/"):
                name = urllib.parse.unquote(art["url"].rsplit("/", 1)[1])  # "2.13.0%2Bcpu" -> "2.13.0+cpu"
                want[name] = (req["project_name"], req["version"], art["hash"])

def ok(name, digest):
    path = os.path.join(wheels, name)
    if not os.path.exists(path):
        return False
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest() == digest

missing = sorted({f"{n}=={v}" for f, (n, v, d) in want.items() if not ok(f, d)})
if missing:
    print(f"[bootstrap] downloading {len(missing)} wheels into {wheels}", file=sys.stderr)
    # The CPU torch build sits in /opt/wheels on these machines; never let pip pick a CUDA build.
    local = ["--find-links", "/opt/wheels"] if os.path.isdir("/opt/wheels") else []
    subprocess.check_call([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                           *local, "-d", wheels, *missing])
bad = [f for f, (_, _, d) in want.items() if not ok(f, d)]
if bad:
    sys.exit("[bootstrap] wheelhouse mismatch (missing or wrong sha256): " + ", ".join(sorted(bad)))
print(f"[bootstrap] ok: {len(want)} locked wheels present", file=sys.stderr)
PY
done
# pex bootstraps these pips (ours: 23.1.2; Pants' built-in tool lockfiles: 23.0.1)
need_pip=0
for f in pip-23.1.2-py3-none-any.whl pip-23.0.1-py3-none-any.whl setuptools-67.7.2-py3-none-any.whl \
         setuptools-67.4.0-py3-none-any.whl wheel-0.40.0-py3-none-any.whl wheel-0.38.4-py3-none-any.whl; do
  [ -f "$WHEELS/$f" ] || need_pip=1
done
if [ "$need_pip" = 1 ]; then
  say "adding pex's pip bootstrap wheels"
  for spec in "pip==23.1.2 setuptools==67.7.2 wheel==0.40.0" "pip==23.0.1 setuptools==67.4.0 wheel==0.38.4"; do
    # shellcheck disable=SC2086
    "$PY311" -m pip download -q --no-deps --only-binary=:all: -d "$WHEELS" $spec
  done
fi
say "done: run ./pants"
