#!/usr/bin/env bash
# Prove that the kiosk installs and works on aarch64 (Raspberry Pi OS bookworm, Python 3.11)
# without a Pi: a minimal Debian arm64 root (debootstrap, first stage only), the project's
# aarch64 wheels from the package index, and everything run under qemu-aarch64-static -L <root>
# (no binfmt registration needed).
#
#   bash tools/aarch64-smoke.sh            # cache: $KIOSK_CI_CACHE or /var/cache/kiosk-ci
#   KIOSK_SMOKE_SUITE=trixie KIOSK_SMOKE_PYTHON=3.13 bash tools/aarch64-smoke.sh   # Pi OS trixie
#
# The root, the wheels and the venv are cached between runs (keyed by the package and
# dependency lists); only the kiosk itself is reinstalled each time. Prints one line per step
# with its duration and ends with "aarch64 smoke: PASS" (exit 0) or the failing step (exit 1).
# Needs: root (debootstrap), qemu-user-static, debootstrap, dpkg-deb, a host pip.
set -euo pipefail

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${KIOSK_CI_CACHE:-/var/cache/kiosk-ci}"
SUITE="${KIOSK_SMOKE_SUITE:-bookworm}"
PYV="${KIOSK_SMOKE_PYTHON:-3.11}"
QEMU="$(command -v qemu-aarch64-static || true)"
T0=$SECONDS

log() { printf 'aarch64 smoke: %s\n' "$*"; }
die() { printf 'aarch64 smoke: FAIL: %s\n' "$*" >&2; exit 1; }
step_start() { STEP="$1"; STEP_T=$SECONDS; }
step_done() { log "$STEP ok ($((SECONDS - STEP_T)) s)"; }

[[ -n "$QEMU" ]] || die "qemu-aarch64-static not found (apt-get install qemu-user-static)"
command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap)"
[[ "$(id -u)" -eq 0 ]] || die "run as root (debootstrap needs it)"

# The Debian mirror apt already uses on this machine (deb822 .sources or one-line lists).
mirror() {
    local uri
    uri="$(grep -h -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v -- '-security' | grep '/debian/\?$' | head -n1 || true)"
    if [[ -z "$uri" ]]; then
        uri="$(grep -h -E '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{print $2}' | grep -v -- '-security' | grep '/debian/\?$' | head -n1 || true)"
    fi
    [[ -n "$uri" ]] || die "no Debian mirror found in /etc/apt/sources.list*"
    echo "$uri"
}

# Python, and the system libraries the kiosk loads on a Pi (SDL's KMSDRM backend). Python 3.13
# (trixie) has no lgpio wheel on the index: Debian's python3-lgpio through system site packages,
# as install.sh does it.
PACKAGES="python${PYV},libpython${PYV}-stdlib,libdrm2,libgbm1,libegl1,libgles2"
VENV_OPTS=()
if [[ "${PYV#3.}" -ge 13 ]]; then
    VENV_OPTS=(--system-site-packages)
    # python3-lgpio is in the Raspberry Pi OS archive, not in Debian: this root has no lgpio.
    export KIOSK_SMOKE_NO_LGPIO="python3-lgpio is not in Debian $SUITE (Raspberry Pi OS has it)"
fi
KEY="$(printf '%s %s %s' "$SUITE" "$PACKAGES" v1 | sha256sum | cut -c1-12)"
ROOT="$CACHE/root-$SUITE-arm64-$KEY"

step_start "root ($SUITE arm64)"
if [[ ! -f "$ROOT/.kiosk-root-ready" ]]; then
    rm -rf "$ROOT" "$ROOT.tmp"
    mkdir -p "$CACHE"
    # First stage only: it needs no arm64 code to run. The extra packages are downloaded but
    # not unpacked by the first stage, so they are unpacked here (no maintainer scripts are
    # needed to run Python).
    debootstrap --foreign --arch=arm64 --variant=minbase --include="$PACKAGES" \
        "$SUITE" "$ROOT.tmp" "$(mirror)" >"$CACHE/debootstrap-$SUITE.log" 2>&1 \
        || { tail -n 20 "$CACHE/debootstrap-$SUITE.log" >&2; die "debootstrap failed"; }
    for deb in "$ROOT.tmp"/var/cache/apt/archives/*.deb; do
        dpkg-deb -x "$deb" "$ROOT.tmp"
    done
    rm -f "$ROOT.tmp"/var/cache/apt/archives/*.deb
    mv "$ROOT.tmp" "$ROOT"
    touch "$ROOT/.kiosk-root-ready"
fi
step_done

run() {  # run an aarch64 program of the root under qemu, with a clean environment
    env -i PATH=/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 \
        SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy GPIOZERO_PIN_FACTORY=mock \
        PYGAME_HIDE_SUPPORT_PROMPT=1 KIOSK_SMOKE_NO_LGPIO="${KIOSK_SMOKE_NO_LGPIO:-}" \
        "${EXTRA_ENV[@]}" \
        "$QEMU" -L "$ROOT" "$@"
}
EXTRA_ENV=()
PY="$ROOT/usr/bin/python$PYV"
[[ -x "$PY" ]] || die "no python$PYV in the root"
machine="$(run "$PY" -c 'import platform; print(platform.machine())')"
[[ "$machine" == "aarch64" ]] || die "emulated python reports machine $machine, not aarch64"

# The project's runtime dependencies as its pyproject.toml states them (markers included).
REQS="$CACHE/requirements-$PYV.txt"
# Markers are evaluated here for the target (pip download would use the host's Python).
python3 - "$SRC/pyproject.toml" "$PYV" >"$REQS" <<'EOF'
import sys, tomllib
from pip._vendor.packaging.requirements import Requirement
target = {"python_version": sys.argv[2], "python_full_version": sys.argv[2] + ".0",
          "platform_machine": "aarch64", "sys_platform": "linux", "platform_system": "Linux",
          "os_name": "posix", "implementation_name": "cpython",
          "platform_python_implementation": "CPython"}
with open(sys.argv[1], "rb") as f:
    deps = tomllib.load(f)["project"]["dependencies"]
print("\n".join(d for d in deps if not Requirement(d).marker or Requirement(d).marker.evaluate(target)))
EOF
WKEY="$(cat "$REQS" | sha256sum | cut -c1-12)"
WHEELS="$CACHE/wheels-cp${PYV/./}-aarch64-$WKEY"

step_start "wheels (aarch64, cp${PYV/./})"
if [[ ! -f "$WHEELS/.ready" ]]; then
    rm -rf "$WHEELS"
    mkdir -p "$WHEELS"
    platforms=()
    for minor in $(seq 17 40); do platforms+=(--platform "manylinux_2_${minor}_aarch64"); done
    # pip, to install them from inside the root
    python3 -m pip download -q --dest "$WHEELS" --only-binary=:all: --no-deps pip \
        >"$CACHE/pip-download.log" 2>&1 || die "cannot download pip (see $CACHE/pip-download.log)"
    python3 -m pip download -q --dest "$WHEELS" --only-binary=:all: \
        "${platforms[@]}" --platform linux_aarch64 \
        --python-version "$PYV" --implementation cp -r "$REQS" >>"$CACHE/pip-download.log" 2>&1 \
        || { tail -n 5 "$CACHE/pip-download.log" >&2
             die "cannot download the aarch64 wheels of the runtime dependencies"; }
    touch "$WHEELS/.ready"
fi
log "$(find "$WHEELS" -name '*.whl' | wc -l) wheels in $WHEELS"
step_done

# A venv inside the root, made and filled by the emulated Python itself (so pip checks the
# wheel tags against the real aarch64 interpreter and glibc). Reused while the wheels match.
VENV_IN=/opt/kiosk/venv
VENV="$ROOT$VENV_IN"
step_start "venv with the runtime dependencies"
if [[ ! -f "$VENV/.deps-$WKEY" ]]; then
    rm -rf "$VENV"
    run "$PY" -m venv --without-pip "${VENV_OPTS[@]}" "$VENV" || die "python -m venv failed"
    pipwhl="$(ls "$WHEELS"/pip-*.whl | head -n1)"
    # under qemu -L a path is looked up in the root first, then on the host: host paths work
    run "$VENV/bin/python" "$pipwhl/pip" install -q --no-index --no-compile \
        --find-links "$WHEELS" -r "$REQS" || die "pip install (aarch64) failed"
    # Every installed file against its wheel's RECORD hash (a truncated library was seen once
    # after an interrupted run: it crashes the emulator with SIGBUS on import).
    python3 - "$VENV" <<'EOF' || { rm -rf "$VENV"; die "the venv does not match its wheels (removed; run again)"; }
import base64, csv, hashlib, pathlib, sys
site = next(pathlib.Path(sys.argv[1]).glob("lib/python3*/site-packages"))
bad = []
for record in site.glob("*.dist-info/RECORD"):
    for row in csv.reader(record.read_text().splitlines()):
        if len(row) < 2 or not row[1].startswith("sha256="):
            continue
        data = (site / row[0]).read_bytes() if (site / row[0]).is_file() else b""
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if "sha256=" + digest != row[1]:
            bad.append(row[0])
if bad:
    print("aarch64 smoke: files differing from their wheels: " + ", ".join(bad[:5]), file=sys.stderr)
    sys.exit(1)
EOF
    touch "$VENV/.deps-$WKEY"
fi
step_done

step_start "kiosk package"
BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
# A small host venv with the build backend, made once: building without isolation is fast.
BUILDER="$CACHE/host-build-venv"
if [[ ! -x "$BUILDER/bin/pip" ]] || ! "$BUILDER/bin/python" -c 'import setuptools, wheel' 2>/dev/null; then
    rm -rf "$BUILDER"
    python3 -m venv "$BUILDER" && "$BUILDER/bin/pip" install -q "setuptools>=68" wheel \
        >"$CACHE/host-build-venv.log" 2>&1 || die "cannot set up $BUILDER"
fi
# from a copy: setuptools writes build/ and *.egg-info next to the sources
mkdir -p "$BUILD/src"
cp -r "$SRC/kiosk" "$SRC/pyproject.toml" "$SRC/README.md" "$BUILD/src/"
find "$BUILD/src" -name __pycache__ -prune -exec rm -rf {} +
"$BUILDER/bin/pip" wheel -q --no-deps --no-build-isolation -w "$BUILD" "$BUILD/src" \
    >"$CACHE/kiosk-wheel.log" 2>&1 || { tail -n 5 "$CACHE/kiosk-wheel.log" >&2
                                         die "cannot build the kiosk wheel"; }
pipwhl="$(ls "$WHEELS"/pip-*.whl | head -n1)"
run "$VENV/bin/python" "$pipwhl/pip" install -q --no-index --no-deps --force-reinstall \
    --no-compile "$BUILD"/kiosk-*.whl || die "pip install of the kiosk wheel failed"
step_done

cp "$SRC/tools/aarch64_smoke.py" "$SRC/config.example.yaml" "$BUILD/"
KPY="$VENV/bin/python"

step_start "imports, VP8/RTP, SRTP, pygame text frame, lgpio"
run "$KPY" "$BUILD/aarch64_smoke.py" || die "in-process smoke checks failed"
step_done

step_start "kiosk check-config on the example"
EXTRA_ENV=(KIOSK_OPENVIDU_SECRET=smoke)
out="$(run "$KPY" -m kiosk.cli check-config "$BUILD/config.example.yaml" 2>&1)" \
    || die "kiosk check-config failed: $out"
[[ "$out" == OK* ]] || die "kiosk check-config said: $out"
EXTRA_ENV=()
step_done

if [[ "${KIOSK_SMOKE_DEMO:-1}" == 1 ]]; then
    # Dev server + 1 bot + the kiosk in one emulated process, on loopback. Done as soon as the
    # kiosk is in the call and shows the bot's video (bounded: 240 s), then stopped with SIGINT.
    step_start "kiosk demo on loopback (1 bot)"
    DEMO_LOG="$BUILD/demo.log"
    (cd "$BUILD" && exec env -i PATH=/usr/bin:/bin HOME=/tmp LANG=C.UTF-8 \
        SDL_VIDEODRIVER=dummy SDL_AUDIODRIVER=dummy GPIOZERO_PIN_FACTORY=mock \
        PYGAME_HIDE_SUPPORT_PROMPT=1 \
        "$QEMU" -L "$ROOT" "$KPY" -m kiosk.cli demo --headless --bots 1 --port 0 \
        --status-port 0 --duration 240 --screenshot "$BUILD/demo.png") >"$DEMO_LOG" 2>&1 &
    DEMO_PID=$!
    seen=""
    for _ in $(seq 1 250); do
        if grep -q '"state": "in_call", "participants": \["Alice [1-9][0-9]* fps' "$DEMO_LOG"; then
            seen=yes; break
        fi
        kill -0 "$DEMO_PID" 2>/dev/null || break
        sleep 1
    done
    kill -INT "$DEMO_PID" 2>/dev/null || true
    wait "$DEMO_PID" || true
    [[ -n "$seen" ]] || { tail -n 20 "$DEMO_LOG" >&2
                         die "kiosk demo never showed the bot's video in the call"; }
    log "$(grep -m1 'first remote frame' "$DEMO_LOG" | sed 's/^.*runner: //')"
    step_done
fi

log "PASS in $((SECONDS - T0)) s"
