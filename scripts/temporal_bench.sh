#!/usr/bin/env bash
# Calibration of the temporal settings (docs/TEMPORAL.md): three kinds of clip made from the sample
# photograph, each stylized with several temporal settings, measured two ways:
#   own  `stylize metrics` (the project's DIS flow on the original, its reliability mask);
#   cv   scripts/flicker_cv.py (OpenCV's DIS flow, medium preset, on the original, the same mask
#        definition): an independent judge, in a venv of its own (.cache/benchvenv: numpy and
#        opencv-python-headless; the product does not depend on OpenCV);
# and the style loss of the warm frames (`stylize metrics --style` on the encoded output, and the
# stylizer's own at the end of each frame, from --stats; frames 2..N). Warping errors and
# style losses are means over frames 2..N (N = FRAMES, or fewer where a run was made with fewer
# frames: the table says which); "vs independent" and "vs prev" divide by the runs of those names.
# The baseline `independent` stylizes every frame as the first frame is (FIRST iterations from its
# own content, no temporal term: what `stylize image` on every frame gives), as in Ruder et al.
#
# Clips (320×200, 25 fps, FRAMES frames):
#   still   a fixed crop with sub-pixel jitter (±0.75 px) and fresh sensor noise in every frame;
#   pan     the crop moving 5 px right and 1 px down per frame;
#   object  a textured patch (96×96) crossing the photograph at 16 px per frame, uncovering it.
# Every run of a clip starts from the same first frame: `stylize image` of the clip's first frame at
# --size SIZE with FIRST iterations, given to `stylize video --first-frame` (frame 1 does not depend
# on the temporal settings, and it is the expensive one).
#
# Usage: scripts/temporal_bench.sh [CLIP...]   (default: still pan object)
#   RUNS="name:options;name:options" the settings (default: independent, content-WARM, prev, prev-warped with
#   temporal weights 0, 1e3, 3e3, 1e4, 3e4, 1e5, 1e6); SIZE (128), FRAMES (10), ITERATIONS (1000,40);
#   STYLIZE (target/release/stylize). Writes .cache/temporal-bench/* and keeps what it made (a run
#   whose figures exist is not made again: delete them to redo it), prints one table per clip
#   and the per-frame errors (cv) of each run.
# scripts/temporal_bench.sh strips BEFORE AFTER   (run names, e.g. "warped 1e3" "warped 1e4", of
#   runs already made) draws the occlusion strip (object clip) and the first-warm-frames strip
#   (still clip: with the camera nearly still, the change from one frame to the next is flicker)
#   into .cache/temporal-bench/; with DOCS=1 also into docs/.
set -euo pipefail
cd "$(dirname "$0")/.."
work=.cache/temporal-bench
mkdir -p "$work"
stylize=${STYLIZE:-target/release/stylize}
style=.cache/samples/painting.jpg
photo=.cache/samples/photo.jpg
size=${SIZE:-128} frames=${FRAMES:-10} iterations=${ITERATIONS:-1000,40}
first=${iterations%%,*}
# MODEL (e.g. models/vgg19-live, with SIZE=112 ITERATIONS=10,2: the live preset) for every step.
model=(--model "${MODEL:-models/vgg19}")
key=$(basename "${MODEL:-vgg19}")-$size-${iterations/,/-}
# Two pictures of runs already made: BEFORE and AFTER are run names.
strips() {
  local before=$(echo "$1" | tr ' ' _) after=$(echo "$2" | tr ' ' _) o=$work/object s=$work/still
  local palette="split[x][y];[x]palettegen[p];[y][p]paletteuse=dither=sierra2_4a"
  # Occlusion: rows original, prev, BEFORE, AFTER; columns frames 1, 4, 7, 10 (runs of 10 frames).
  local pick="select='eq(n\,0)+eq(n\,3)+eq(n\,6)+eq(n\,9)',scale=240:-2,tile=4x1:padding=4:color=white"
  ffmpeg -v error -y -i "$o.mp4" -i "$o-prev.mp4" -i "$o-$before.mp4" -i "$o-$after.mp4" \
    -filter_complex "[0:v]$pick[a];[1:v]$pick[b];[2:v]$pick[c];[3:v]$pick[d];\
[a][b][c][d]vstack=inputs=4,$palette" -frames:v 1 "$work/occlusion.png"
  # First warm frames: for BEFORE and AFTER, frames 1–5 and the change from the frame before (×4).
  local frames="select='lt(n\,5)',scale=192:-2,tile=5x1:padding=4:color=white"
  local change="format=gbrp,tblend=all_mode=difference,lutrgb=r=4*val:g=4*val:b=4*val,select='lt(n\,4)',\
scale=192:-2,tile=5x1:padding=4:color=white:init_padding=1"
  ffmpeg -v error -y -i "$s-$before.mp4" -i "$s-$after.mp4" -filter_complex "[0:v]split[a][b];[1:v]split[c][d];\
[a]$frames[a1];[b]$change[b1];[c]$frames[c1];[d]$change[d1];[a1][b1][c1][d1]vstack=inputs=4,$palette" \
    -frames:v 1 "$work/first_frames.png"
  [[ ${DOCS:-} != 1 ]] || cp "$work/occlusion.png" docs/temporal_occlusion.png
  [[ ${DOCS:-} != 1 ]] || cp "$work/first_frames.png" docs/temporal_first_frames.png
}
if [[ ${1:-} == strips ]]; then
  strips "$2" "$3"
  exit
fi

clips=("$@")
((${#clips[@]})) || clips=(still pan object)
# independent: every frame stylized as the first frame is (what `stylize image` on every frame
# gives: FIRST iterations from its own content, no temporal term), the issue's and Ruder et al.'s
# baseline; content-WARM: WARM iterations from the content (weakly stylized frames, the earlier
# baseline, kept for reference).
warm=${iterations#*,}
# The baselines run their whole budgets (--tolerance 0: a warm frame's default stops early).
default_runs="independent:--init content --temporal-weight 0 --iterations $first,$first --tolerance 0"
default_runs+=";content-$warm:--init content --temporal-weight 0 --tolerance 0;prev:--init prev --temporal-weight 0 --tolerance 0"
for tw in 0 1e3 3e3 1e4 3e4 1e5 1e6; do default_runs+=";warped $tw:--init prev-warped --temporal-weight $tw"; done
IFS=';' read -r -a runs <<<"${RUNS:-$default_runs}"

venv=.cache/benchvenv
if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import cv2, numpy' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check opencv-python-headless numpy
fi

make_clip() {
  local out=$work/$1.mp4 enc=(-frames:v "$frames" -c:v libx264 -crf 12)
  [[ -s $out ]] && return
  case $1 in
    still) ffmpeg -v error -y -loop 1 -framerate 25 -i "$photo" -vf "scale=1280:800:force_original_aspect_ratio=increase,\
crop=1280:800,crop=1100:688:x='90+3*sin(n*1.7)':y='56+3*cos(n*1.1)',scale=320:200:flags=bicubic,noise=alls=6:allf=t,\
format=yuv420p" "${enc[@]}" "$out" ;;
    pan) ffmpeg -v error -y -loop 1 -framerate 25 -i "$photo" -vf "scale=2560:1600,crop=1280:800:x='300+20*n':y='500+4*n',\
scale=320:200:flags=bicubic,format=yuv420p" "${enc[@]}" "$out" ;;
    object) ffmpeg -v error -y -loop 1 -framerate 25 -i "$photo" -loop 1 -framerate 25 -i "$photo" -filter_complex \
"[0]scale=320:200:force_original_aspect_ratio=increase,crop=320:200[bg];[1]scale=640:400,crop=96:96:300:270,vflip[fg];\
[bg][fg]overlay=x='40+16*n':y='50+2*n':eval=frame,format=yuv420p" "${enc[@]}" "$out" ;;
    *) echo "temporal_bench: unknown clip '$1' (still, pan, object)" >&2; exit 2 ;;
  esac
}

# Processing size of a 320×200 clip at --size $size (as `stylize` rounds it).
read -r pw ph < <(python3 -c "s=$size/320; print(round(320*s), round(200*s))")

for clip in "${clips[@]}"; do
  make_clip "$clip"
  src=$work/$clip.mp4 firstframe=$work/$clip-first-$(basename "${MODEL:-vgg19}")-$size-$first.png
  if [[ ! -s $firstframe ]]; then
    ffmpeg -v error -y -i "$src" -vf "scale=$pw:$ph:flags=bicubic" -frames:v 1 "$work/$clip-content1-$size.png"
    "$stylize" image "$work/$clip-content1-$size.png" -s "$style" -o "$firstframe" --size "$size" \
      --iterations "$first" --device cpu -q "${model[@]}"
  fi
  echo
  echo "## $clip: $frames frames at --size $size ($pw×$ph), \`--iterations $iterations\`, ${MODEL:-models/vgg19}, first frame shared"
  echo
  rows=""
  for run in "${runs[@]}"; do
    name=${run%%:*} opts=${run#*:} tag=$clip-$(echo "${run%%:*}" | tr ' ' _)
    [[ $key == vgg19-128-1000-40 ]] || tag=$tag-$key
    if [[ ! -s $work/$tag.metrics.json ]]; then
      its=(--iterations "$iterations")
      [[ $opts != *--iterations* ]] || its=()
      # shellcheck disable=SC2086
      "$stylize" video "$src" --style "$style" -o "$work/$tag.mp4" --size "$size" --frames "$frames" \
        "${its[@]}" --first-frame "$firstframe" --crf 10 --device cpu -q \
        --stats "$work/$tag.json" "${model[@]}" $opts
      "$stylize" metrics --original "$src" --stylized "$work/$tag.mp4" --size "$size" --style "$style" \
        --frames "$frames" --device cpu --json "${model[@]}" >"$work/$tag.metrics.json.part"
      mv "$work/$tag.metrics.json.part" "$work/$tag.metrics.json"
    fi
    "$venv/bin/python" scripts/flicker_cv.py "$src" "$work/$tag.mp4" "$pw" "$ph" "$frames" >"$work/$tag.cv.json"
    rows+="$name"$'\t'"$opts"$'\t'"$work/$tag"$'\n'
  done
  # One row per run: means over frames 2..FRAMES (a run made with more frames is cut to FRAMES, one
  # made with fewer is measured over those it has);
  # ratios against the runs named independent and prev.
  python3 - "$frames" <<PY
import json, sys
n = int(sys.argv[1])
rows, per = [], []
for line in """$rows""".strip().splitlines():
    name, opts, t = line.split("\t")
    m, c, s = (json.load(open(f"{t}{x}.json")) for x in (".metrics", ".cv", ""))
    warm = m["frames"][1:n]  # a run made with fewer frames is measured over the frames it has
    own = sum(f["warping_error"] for f in warm) / len(warm)
    style = sum(f["style_loss"] for f in warm) / len(warm)
    cv = [f["warping_error"] for f in c["frames"][: n - 1]]
    secs = [f["seconds"] for f in s["frames"][1:n]]
    own_style = [f["loss"]["style"] for f in s["frames"][1:n]]
    rows.append((name, opts, len(warm) + 1, own, sum(cv) / len(cv), style,
                 sum(own_style) / len(own_style), sum(secs) / len(secs)))
    per.append((name, cv))
base = {r[0]: r for r in rows}
r = lambda a, b: f"{a / b:.3f}" if b else ""
ind, prev = base.get("independent"), base.get("prev")
print("| run | options | frames | warping error, own | cv | cv vs independent | cv vs prev | style loss "
      "| vs independent | style loss, stylizer | vs independent | s per warm frame |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, opts, k, own, cv, style, own_style, secs in rows:
    print(f"| {name} | \`{opts}\` | 2..{k} | {own:.3e} | {cv:.3e} | {r(cv, ind and ind[4])} "
          f"| {r(cv, prev and prev[4])} | {style:.4e} | {r(style, ind and ind[5])} "
          f"| {own_style:.4e} | {r(own_style, ind and ind[6])} | {secs:.1f} |")
print(f"\nWarping error (cv) per frame, frames 2..{n}:\n")
print("| run |" + " |".join(str(i) for i in range(2, n + 1)) + " |")
print("|---|" + "---|" * (n - 1))
for name, cv in per:
    print(f"| {name} | " + " | ".join(f"{e:.2e}" for e in cv) + " |" * (n - 1 - len(cv)) + " |")
PY
  [[ $clip == object && $frames == 10 ]] || continue
  # Long-term consistency: a patch of background (x 160–196, y 75–140 of 320×200) is visible in
  # frames 1 and 10 and covered by the moving patch in between; it does not move.
  echo
  echo "Background uncovered again (x 160–196, y 75–140): mean squared difference, frames 1 and 10:"
  echo
  for video in "$src" "${runs[@]}"; do
    [[ $video == "$src" ]] || { tag=$clip-$(echo "${video%%:*}" | tr ' ' _); [[ $key == vgg19-128-1000-40 ]] || tag=$tag-$key; video=$work/$tag.mp4; }
    ffmpeg -v error -i "$video" -vf "select='eq(n\,0)+eq(n\,9)',scale=320:200" -fps_mode vfr -f rawvideo -pix_fmt rgb24 - |
      "$venv/bin/python" -c "
import sys, numpy as np
f = np.frombuffer(sys.stdin.buffer.read(), np.uint8).reshape(2, 200, 320, 3) / 255.0
print(f'- {sys.argv[1]}: {((f[1] - f[0])[75:140, 160:196] ** 2).mean():.2e}')" "$(basename "$video")"
  done
done
