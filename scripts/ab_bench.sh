#!/usr/bin/env bash
# Same-run A/B of two builds of stylize on the CPU, runs alternating so that the machine's load
# falls on both alike: the engine (`stylize image`, real VGG19, 256 px, 30 L-BFGS iterations, one
# level: seconds per iteration), the video pipeline's overhead (tiny model, 320×240 test pattern,
# 75 frames at 64 px, 4,2 iterations: frames per second and the share of the pipeline's wall time
# outside the stylizer) and the live view (`live --live` under xvfb, 100 displayed frames:
# displayed fps and median latency). Prints one table of medians.
#
#   scripts/ab_bench.sh BEFORE_BINARY AFTER_BINARY     RUNS=3 (per build and benchmark)
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1 after=$2 runs=${RUNS:-3}
out=target/ab-bench
rm -rf "$out" && mkdir -p "$out"
style=.cache/samples/painting.jpg content=.cache/samples/photo.jpg
for run in $(seq "$runs"); do
  for side in before after; do
    bin=${!side}
    # Outputs go before each run: the older build has no -y.
    rm -f "$out/$side-image.png" "$out/$side-video.mp4"
    "$bin" image "$content" -s "$style" -o "$out/$side-image.png" --size 256 --iterations 30 \
      --levels 1 --device cpu -q --stats "$out/$side-image-$run.json"
    "$bin" video --input-format lavfi testsrc2=size=320x240:rate=25:duration=3 -s "$style" \
      -o "$out/$side-video.mp4" --model models/tiny --size 64 --iterations 4,2 --device cpu -q \
      --stats "$out/$side-video-$run.json"
    xvfb-run -a -s "-screen 0 1024x768x24" "$bin" live \
      --input-format lavfi testsrc2=size=320x240:rate=30 --live --device cpu -q -s "$style" \
      --frames 100 --stats "$out/$side-live-$run.json" --save-dir "$out"
  done
done
.venv/bin/python - "$out" "$runs" <<'PY'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
load = lambda side, what, r: json.load(open(f"{out}/{side}-{what}-{r}.json"))
def med(side, what, f):
    return statistics.median(f(load(side, what, r)) for r in range(1, runs + 1))
per_it = lambda s: statistics.median(i["seconds"] for i in s["iterations"])
fps = lambda s: s["frames_written"] / s["pipeline_seconds"]
outside = lambda s: 100 * (s["pipeline_seconds"] - s["stylize_seconds"]) / s["pipeline_seconds"]
rows = [
    ("engine: seconds per L-BFGS iteration (VGG19, 256 px)", "image", per_it, "{:.3f}"),
    ("video pipeline: frames per second (tiny model, 64 px)", "video", fps, "{:.2f}"),
    ("video pipeline: wall time outside the stylizer", "video", outside, "{:.1f}%"),
    ("live --live: displayed fps", "live", lambda s: s["displayed_fps"], "{:.1f}"),
    ("live --live: median latency (ms)", "live", lambda s: s["latency_ms_median"], "{:.0f}"),
]
print(f"| what (median of {runs} runs each, alternating) | before | after | after / before |")
print("|---|---|---|---|")
for name, what, f, fmt in rows:
    b, a = med("before", what, f), med("after", what, f)
    print(f"| {name} | {fmt.format(b)} | {fmt.format(a)} | {a / b:.3f} |")
PY
