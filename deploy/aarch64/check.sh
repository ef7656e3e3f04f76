#!/usr/bin/env bash
# Does Auricle's runtime give the same answer on a 64-bit ARM board (Raspberry Pi 4/5)?
#
# Builds a Debian bookworm arm64 root (debootstrap --foreign, second stage under
# qemu-user-static through binfmt_misc), installs python3 + a venv with the
# runtime's pinned wheels from PyPI (ai-edge-litert 2.3.0 has aarch64 cp311
# wheels; bookworm has Python 3.11), copies in the sdk source, and runs
# `python -m sdk.cli classify --json` plus deploy/aarch64/probe.py on a model and
# clip made on this x86-64 host. compare.py then checks the promise: XNNPACK
# (the default) scores bit-identical; LiteRT's builtin kernels the same label in
# every window and within a stated number of int8 steps (compare.py says why).
#
#   sudo deploy/aarch64/check.sh [MODEL.tflite CLIP.wav]
#
# e.g. on the README's main job:  sudo deploy/aarch64/check.sh runs/default/model_int8.tflite clip.wav
# Without arguments the model and clip come from make_fixture.py (needs the
# train extra, i.e. TensorFlow, on the host only). The host's python3 ($PYTHON)
# must have the runtime installed (pip install -e '.[dev]'). Re-runnable: the root is
# kept in $AURICLE_ARM64_ROOT (default /var/tmp/auricle-arm64-bookworm) and
# only missing steps run. Results go to $AURICLE_CHECK_OUT (default
# .cache/aarch64-check, ignored by git). Needs root (debootstrap, chroot,
# mounts) and Debian packages qemu-user-static binfmt-support debootstrap.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
ROOT=${AURICLE_ARM64_ROOT:-/var/tmp/auricle-arm64-bookworm}
OUT=${AURICLE_CHECK_OUT:-$REPO/.cache/aarch64-check}
SUITE=bookworm
PYTHON=${PYTHON:-python3}
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

[ "$(id -u)" = 0 ] || { echo "check.sh: needs root (debootstrap, chroot, mount)" >&2; exit 2; }
needs=(sdk ai_edge_litert soundfile soxr)
[ $# -ge 2 ] || needs+=(tensorflow)  # make_fixture.py trains the fixture on this host
for module in "${needs[@]}"; do
    (cd "$REPO" && "$PYTHON" -c "import $module" 2>/dev/null) || {
        echo "check.sh: the host's $PYTHON ($(command -v "$PYTHON" || echo missing)) cannot import $module;" \
             "install the runtime first (pip install -e '.[dev]'), or set PYTHON=/path/to/python" >&2; exit 2; }
done
PY_PINS=(ai-edge-litert==2.3.0 "numpy==$("$PYTHON" -c 'import numpy; print(numpy.__version__)')"
         soundfile==0.14.0 soxr==1.1.0 typer==0.29.1 rich==15.0.0)

# 1. Host tools.
missing=()
for pkg in qemu-user-static binfmt-support debootstrap; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# 2. binfmt_misc: containers and minimal VMs often boot without it mounted.
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 || { echo "qemu-aarch64 binfmt is not enabled" >&2; exit 2; }

# 3. The mirror this host already uses (deb822 or one-line sources), else deb.debian.org.
MIRROR=$(grep -hoE '^URIs:[[:space:]]*\S+/debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -n1 || true)
[ -n "$MIRROR" ] || MIRROR=$(grep -hoE '^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?\S+/debian/?[[:space:]]' /etc/apt/sources.list 2>/dev/null \
                              | awk '{print $NF}' | head -n1 || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

mounts=(proc sys dev)
cleanup() {
    mountpoint -q "$ROOT/proc/cpuinfo" && umount "$ROOT/proc/cpuinfo" || true
    for m in dev sys proc; do mountpoint -q "$ROOT/$m" && umount -l "$ROOT/$m" || true; done
}
trap cleanup EXIT
in_root() {  # a clean environment: the host's PIP_* settings must not leak in
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        chroot "$ROOT" "$@"
}

# 4. The arm64 root, two stages.
if [ ! -e "$ROOT/.auricle-stage2-done" ]; then
    if [ ! -e "$ROOT/debootstrap/debootstrap" ]; then
        log "debootstrap first stage ($SUITE arm64 from $MIRROR) into $ROOT"
        cleanup  # a killed earlier run may have left /dev, /proc, /sys bound inside
        case "$ROOT" in /|/var|/var/tmp|/tmp|"") echo "refusing to remove ROOT=$ROOT" >&2; exit 2;; esac
        if grep -q " $ROOT/" /proc/mounts; then echo "refusing to remove $ROOT: still mounted inside" >&2; exit 2; fi
        rm -rf --one-file-system "$ROOT"
        debootstrap --arch=arm64 --foreign --variant=minbase \
            --include=python3,python3-venv,python3-pip,ca-certificates "$SUITE" "$ROOT" "$MIRROR"
    fi
    log "debootstrap second stage under qemu-aarch64"
    in_root /debootstrap/debootstrap --second-stage
    touch "$ROOT/.auricle-stage2-done"
fi
for m in "${mounts[@]}"; do
    mountpoint -q "$ROOT/$m" || mount --bind "/$m" "$ROOT/$m"
done
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"

# 5. The runtime's wheels, from PyPI as a Pi would get them.
if [ ! -x "$ROOT/opt/venv/bin/python" ]; then
    log "python3 -m venv /opt/venv (arm64)"
    in_root python3 -m venv /opt/venv
fi
# The host's CA bundle goes in too: a host that reaches PyPI through a TLS-inspecting proxy
# trusts that proxy's CA only in its own bundle (pip's cert setting), not in Debian's.
HOST_CA=${PIP_CERT:-$(pip3 config get global.cert 2>/dev/null || true)}
[ -f "$HOST_CA" ] || HOST_CA=/etc/ssl/certs/ca-certificates.crt
cp -L "$HOST_CA" "$ROOT/etc/ssl/host-ca-bundle.crt"
log "pip install ${PY_PINS[*]} (arm64, under qemu; slow the first time)"
in_root env PIP_CERT=/etc/ssl/host-ca-bundle.crt /opt/venv/bin/pip install --quiet --disable-pip-version-check \
    "${PY_PINS[@]}"

# 6. The runtime source only: sdk/ and the probe. No quantize, no TensorFlow.
rm -rf "$ROOT/opt/auricle" && mkdir -p "$ROOT/opt/auricle/src/deploy/aarch64" "$ROOT/opt/auricle/data"
cp -r "$REPO/sdk" "$ROOT/opt/auricle/src/"
cp "$REPO/deploy/aarch64/probe.py" "$ROOT/opt/auricle/src/deploy/aarch64/"

# 7. Model and clip, and the x86-64 results.
mkdir -p "$OUT/x86_64" "$OUT/aarch64"
if [ $# -ge 2 ]; then
    MODEL=$(realpath "$1"); CLIP=$(realpath "$2")
else
    log "make_fixture.py: train a tiny int8 model on x86-64 (TensorFlow on the host)"
    (cd "$REPO" && "$PYTHON" deploy/aarch64/make_fixture.py "$OUT/fixture" >/dev/null)
    MODEL=$OUT/fixture/tones.tflite; CLIP=$OUT/fixture/high.wav
fi
cp "$MODEL" "$ROOT/opt/auricle/data/model.tflite"; cp "$CLIP" "$ROOT/opt/auricle/data/clip.wav"
host() {  # a failing host step shows its error instead of ending the script silently
    (cd "$REPO" && "$PYTHON" "$@" 2>"$OUT/x86_64/stderr.txt") || { cat "$OUT/x86_64/stderr.txt" >&2; exit 1; }
}
host -m sdk.cli classify --json --top 3 "$MODEL" "$CLIP" >"$OUT/x86_64/classify.json"
host deploy/aarch64/probe.py "$MODEL" "$CLIP" >"$OUT/x86_64/probe.json"

# qemu-user passes the host's /proc/cpuinfo through unchanged, and LiteRT's cpuinfo
# library segfaults parsing an x86 one on aarch64 (Interpreter() crashes before
# any op runs). A real Pi shows its own; here each board's is bound over it, and
# QEMU_CPU makes the emulated core (and the hwcaps XNNPACK picks kernels by) match.
cpuinfo() {  # part number, features
    for i in 0 1 2 3; do
        printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\n' "$i" "$2"
        printf 'CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: %s\nCPU revision\t: 3\n\n' "$1"
    done
}
boards=("pi4 cortex-a72 0xd08 fp asimd evtstrm crc32 cpuid"
        "pi5 cortex-a76 0xd0b fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp")
status=0
for board in "${boards[@]}"; do
    read -r name cpu part features <<<"$board"
    log "classify on aarch64, $name ($cpu under qemu)"
    mkdir -p "$OUT/aarch64-$name"
    cpuinfo "$part" "$features" >"$ROOT/tmp/cpuinfo-$name"
    mountpoint -q "$ROOT/proc/cpuinfo" && umount "$ROOT/proc/cpuinfo"
    mount --bind "$ROOT/tmp/cpuinfo-$name" "$ROOT/proc/cpuinfo"
    in_root env QEMU_CPU="$cpu" sh -c 'cd /opt/auricle/src && /opt/venv/bin/python -m sdk.cli classify --json --top 3 \
        /opt/auricle/data/model.tflite /opt/auricle/data/clip.wav' >"$OUT/aarch64-$name/classify.json"
    in_root env QEMU_CPU="$cpu" sh -c 'cd /opt/auricle/src && /opt/venv/bin/python deploy/aarch64/probe.py \
        /opt/auricle/data/model.tflite /opt/auricle/data/clip.wav' >"$OUT/aarch64-$name/probe.json"
    umount "$ROOT/proc/cpuinfo"
    echo "== x86-64 vs aarch64 $name ($cpu) ==" | tee "$OUT/compare-$name.txt"
    "$PYTHON" "$REPO/deploy/aarch64/compare.py" "$OUT/x86_64" "$OUT/aarch64-$name" | tee -a "$OUT/compare-$name.txt" \
        || status=1
done
in_root /opt/venv/bin/pip freeze >"$OUT/aarch64-pip-freeze.txt"
if grep -iE '^(tensorflow|tf-keras|keras)' "$OUT/aarch64-pip-freeze.txt"; then
    echo "the aarch64 runtime venv holds TensorFlow" >&2; exit 1
fi
exit $status
