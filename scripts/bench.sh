#!/usr/bin/env bash
# Benchmarks, each a section of docs/BENCHMARKS.md (a run replaces only the sections it measures):
#   engine  loss-and-gradient evaluations of the real VGG19 at three sizes against the CPU's
#           convolution peak measured in the same run, and the share of an L-BFGS iteration spent
#           outside ONNX Runtime;
#   video   `stylize video` at --size 256 (--iterations 100,40, the default before issue 5 made the
#           first frame 1000: the figures are about warm frames) on a clip with camera motion:
#           frames per second, and the share of the pipeline's wall time spent outside the stylizer;
#   memory  peak RSS of `stylize video` (tiny model) on generated clips of 100 to 5,000 frames;
#   flow    optical flow (forward, backward and reliability weights) at 512×288, against a warm
#           video frame's stylization measured in the same run (benches/flow.rs);
#   flowacc every flow preset against OpenCV's DIS with the same settings on frame pairs with known
#           motion at 512×288 and 1280×720: time and end-point error (scripts/flow_bench.py; OpenCV
#           comes from PyPI into the bench's own virtualenv, .cache/benchvenv).
# Usage: scripts/bench.sh [SECTION...]   (default: all). THREADS (default 2) sets the engine's threads;
# VIDEO_RUNS (3) and VIDEO_FRAMES (12) the video section's runs, REUSE=1 keeps its finished runs.
# The live preview's figures come from scripts/bench_live.sh (its own section of the file).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p .cache/bench
sections=("$@")
((${#sections[@]})) || sections=(engine video memory flow)
stylize=target/release/stylize

engine() {
  .venv/bin/python - <<'PY'
import numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper
w = numpy_helper.from_array((np.random.default_rng(0).standard_normal((512, 512, 3, 3)) * 0.02).astype(np.float32), "w")
node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
graph = helper.make_graph([node], "conv512",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 512, "h", "w"])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 512, "h", "w"])], [w])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, ".cache/bench/conv512.onnx")
PY
  echo "Loss-and-gradient evaluations of the real VGG19 (CPU). Medians; the percentage is of the"
  echo "convolution peak measured in the same run."
  echo
  cargo bench --locked --quiet --bench engine -- --conv .cache/bench/conv512.onnx --threads "${THREADS:-2}"
}

video() {
  local clip=.cache/bench/pan.mp4 runs=${VIDEO_RUNS:-3} frames=${VIDEO_FRAMES:-12}
  # The README's demo clip: a 320×200 window panning across the sample photograph, 12 fps.
  ffmpeg -v error -y -loop 1 -framerate 12 -i .cache/samples/photo.jpg \
    -vf "scale=720:-2,crop=320:200:x='40+t*80':y='150+t*15',format=yuv420p" -t 2 -r 12 \
    -c:v libx264 -crf 14 "$clip"
  for i in $(seq "$runs"); do
    # REUSE=1 keeps finished runs and redoes only the table.
    [[ ${REUSE:-} == 1 && -s .cache/bench/video$i.json ]] && continue
    "$stylize" video "$clip" --style .cache/samples/painting.jpg -o .cache/bench/pan-out.mp4 \
      --frames "$frames" --iterations 100,40 --device cpu -q --stats ".cache/bench/video$i.json"
  done
  .venv/bin/python - "$runs" <<'PY'
import json, statistics, sys
runs = [json.load(open(f".cache/bench/video{i}.json")) for i in range(1, int(sys.argv[1]) + 1)]
med = lambda f: statistics.median(f(r) for r in runs)
first = runs[0]
frames = len(first["frames"])
print(f"`stylize video` on a {first['output_width']}×{first['output_height']} clip panning across the "
      f"sample photograph, {frames} frames, stylized at {first['processing_width']}×{first['processing_height']} "
      f"(`--size 256`), `--iterations 100,40` (L-BFGS), default settings otherwise, {first['threads']} threads, CPU; "
      f"median of {len(runs)} runs.")
print()
print("| what | median |")
print("|---|---|")
fps = lambda r: len(r["frames"]) / r["pipeline_seconds"]
warm = lambda r: (len(r["frames"]) - 1) / sum(f["seconds"] for f in r["frames"][1:])
print(f"| frames per second, whole clip (first frame 100 iterations) | {med(fps):.3f} |")
print(f"| frames per second, warm frames (40 iterations) | {med(warm):.3f} |")
print(f"| seconds per warm frame | {med(lambda r: 1 / warm(r)):.2f} |")
print(f"| loss evaluations per warm frame | {med(lambda r: statistics.mean(f['evaluations'] for f in r['frames'][1:])):.1f} |")
outside = lambda r: r["pipeline_seconds"] - r["stylize_seconds"]
print(f"| pipeline wall time | {med(lambda r: r['pipeline_seconds']):.1f} s |")
print(f"| of which outside the stylizer (waiting for decode, flow and encode; the end of the run) | "
      f"{med(outside):.3f} s = **{100 * med(lambda r: outside(r) / r['pipeline_seconds']):.2f}%** |")
print(f"| &nbsp;&nbsp;stylize thread waiting for a decoded frame | {med(lambda r: r['waiting_for_input_seconds']):.3f} s |")
print(f"| &nbsp;&nbsp;stylize thread waiting for the encoder | {med(lambda r: r['waiting_for_output_seconds']):.3f} s |")
print(f"| prepare stage (frame → tensor, optical flow), on its own thread | {med(lambda r: r['prepare_seconds']):.3f} s |")
print(f"| set-up before the first frame (model load, style targets) | {med(lambda r: r['seconds'] - r['pipeline_seconds']):.2f} s |")
PY
}

memory() {
  echo "Peak resident memory of \`stylize video\` (tiny model, \`--size 48 --iterations 2,1\`) on a"
  echo "generated 320×240 testsrc2 clip, by \`/usr/bin/time\`: the channels are bounded, so it does not"
  echo "grow with the number of frames."
  echo
  echo "| frames | peak RSS | wall time |"
  echo "|---|---|---|"
  for n in 100 1000 5000; do
    /usr/bin/time -f "%M %e" -o .cache/bench/time.txt "$stylize" video --input-format lavfi \
      testsrc2=size=320x240:rate=25 --frames "$n" --style .cache/samples/painting.jpg \
      -o .cache/bench/long.mp4 --model models/tiny --device cpu --size 48 --iterations 2,1 -q
    read -r kib secs <.cache/bench/time.txt
    echo "| $n | $((kib / 1024)) MiB | ${secs} s |"
  done
}

flow() {
  echo "Optical flow between two 512×288 frames; the share is of 40 loss-and-gradient evaluations (a"
  echo "warm frame's iterations at the default \`--size 256\`) measured in the same run. Medians."
  echo
  cargo bench --locked --quiet --bench flow -- --threads "${THREADS:-2}"
}

flowacc() {
  local py=.cache/benchvenv/bin/python
  [[ -x $py ]] || python3 -m venv .cache/benchvenv
  $py -c "import cv2" 2>/dev/null || .cache/benchvenv/bin/pip install -q --disable-pip-version-check \
    opencv-python-headless numpy >&2
  $py scripts/flow_bench.py --photo .cache/samples/photo.jpg --painting .cache/samples/painting.jpg \
    --work .cache/bench/flowpairs --threads "${THREADS:-2}"
}

for section in "${sections[@]}"; do
  case $section in
    engine | video | memory | flow | flowacc) ;;
    *) echo "bench: unknown section '$section' (engine, video, memory, flow, flowacc)" >&2; exit 2 ;;
  esac
  out=.cache/bench/$section.md
  "$section" | tee "$out"
  title=$(case $section in engine) echo "Style engine" ;; video) echo "Video pipeline" ;;
    memory) echo "Memory on long videos" ;; flow) echo "Optical flow" ;;
    flowacc) echo "Optical flow against OpenCV" ;; esac)
  .venv/bin/python scripts/bench_section.py "$section" "$title" "scripts/bench.sh $section" <"$out"
done
