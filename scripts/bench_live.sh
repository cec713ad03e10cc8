#!/usr/bin/env bash
# Live preview benchmark: `stylize live --live` on a 320×240, 30 fps test pattern (lavfi testsrc2,
# the stand-in camera) in a virtual X server, CPU only. Displayed frames per second and end-to-end
# latency (frame out of the decoder → drawn in the window) come from --stats; the first displayed
# frame (optimized longer, from its content) is left out of both. Writes the "Live preview" section
# of docs/BENCHMARKS.md, keeping the rest of the file, and the README's picture docs/live.jpg: the
# window (on a 640×480 virtual screen, overlay included) showing a clip that pans over the sample
# photograph, side by side (V), after 8 seconds.
#
#   scripts/bench_live.sh [stylize live options…]    e.g. --size 96 --iterations 10,2
#   FRAMES=100 (displayed frames per run), RUNS=3, NO_SETUP=1 (skip scripts/setup.sh), NO_DOCS=1
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${NO_SETUP:-0} == 1 ]] || scripts/setup.sh
FRAMES=${FRAMES:-100}
RUNS=${RUNS:-3}
OUT=target/bench-live
rm -rf "$OUT"
mkdir -p "$OUT"
for run in $(seq "$RUNS"); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  xvfb-run -a -s "-screen 0 1024x768x24" target/release/stylize live \
    --input-format lavfi testsrc2=size=320x240:rate=30 --live --device cpu -q \
    -s .cache/samples/painting.jpg --frames "$FRAMES" --stats "$OUT/run$run.json" --save-dir "$OUT" "$@"
  echo "$load" >"$OUT/run$run.load"
done
table=$(.venv/bin/python - "$OUT" "$RUNS" "$*" <<'PY'
import json, statistics, sys
out, runs, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = []
for r in range(1, runs + 1):
    s = json.load(open(f"{out}/run{r}.json"))
    load = open(f"{out}/run{r}.load").read().strip()
    its = [f["iterations"] for f in s["frames"][1:]]
    rows.append((s, load, its))
s0 = rows[0][0]
print(f"`stylize live --live{(' ' + extra) if extra else ''}`: model `{s0['model'].split('/')[-1]}`, "
      f"processing size {s0['processing_width']}×{s0['processing_height']}, "
      f"{s0['first_iterations']} L-BFGS iterations on the first frame and {s0['iterations_per_frame']} on every later one, "
      f"ONNX Runtime threads: {s0['threads']}, device {s0['device']}; input `testsrc2=size=320x240:rate=30`, "
      f"{s0['displayed_frames']} displayed frames per run.")
print()
print("| run | displayed fps | latency median | latency p95 | iterations per frame | evaluations per frame | style loss (median) | frames decoded / displayed | stylize time per frame (median) | load average before the run |")
print("|---|---|---|---|---|---|---|---|---|---|")
for i, (s, load, its) in enumerate(rows, 1):
    steady = s["frames"][1:]
    stylize = statistics.median(f["stylize_ms"] for f in steady)
    evaluations = statistics.mean(f["evaluations"] for f in steady)
    style = statistics.median(f["loss"]["style"] for f in steady)
    print(f"| {i} | {s['displayed_fps']:.1f} | {s['latency_ms_median']:.0f} ms | {s['latency_ms_p95']:.0f} ms | "
          f"{statistics.median(its):.0f} | {evaluations:.2f} | {style:.3g} | {s['decoded_frames']} / {s['displayed_frames']} | "
          f"{stylize:.0f} ms | {load} |")
fps = statistics.median(r[0]["displayed_fps"] for r in rows)
med = statistics.median(r[0]["latency_ms_median"] for r in rows)
p95 = statistics.median(r[0]["latency_ms_p95"] for r in rows)
print(f"| median of runs | {fps:.1f} | {med:.0f} ms | {p95:.0f} ms | | | | | | |")
PY
)
echo "$table"
[[ ${NO_DOCS:-0} == 1 ]] && exit 0
.venv/bin/python scripts/bench_section.py live "Live preview" "scripts/bench_live.sh" <<<"CPU only (CUDA not measured); the load average (runnable processes, 2 cores) is given per run.

$table"

# --- docs/live.jpg ------------------------------------------------------------------------------
ffmpeg -v error -y -loop 1 -i .cache/samples/photo.jpg \
  -vf "scale=640:-2,crop=320:240:x='20+t*25':y=60" -t 12 -r 30 -pix_fmt yuv420p -c:v libx264 -crf 16 "$OUT/clip.mp4"
cat >"$OUT/shot.sh" <<SH
target/release/stylize live $OUT/clip.mp4 --live --device cpu -q -s .cache/samples/painting.jpg --save-dir $OUT "\$@" &
pid=\$!
press() { xdotool keydown "\$1"; sleep 0.3; xdotool keyup "\$1"; }
xdotool search --sync --name 'stylize live' >/dev/null
sleep 8
press v
sleep 1.5
import -window root -quality 90 docs/live.jpg
press Escape
wait \$pid
SH
xvfb-run -a -s "-screen 0 640x480x24" bash "$OUT/shot.sh" "$@"
echo "wrote docs/live.jpg"
