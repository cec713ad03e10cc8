#!/usr/bin/env bash
# Benchmarks: loss-and-gradient evaluations of the real VGG19 at three sizes with 2 CPU threads, against
# the CPU's convolution peak measured in the same run (one 3×3 512→512 convolution through ONNX Runtime),
# and the share of an L-BFGS iteration spent outside ONNX Runtime; then optical flow (forward, backward and
# reliability weights at 512×288) against a warm video frame's stylization. Writes docs/BENCHMARKS.md.
#
#   scripts/bench.sh [ARGS...]    everything; ARGS go to the engine benchmark (see benches/engine.rs)
#   scripts/bench.sh --flow-only  only the optical-flow table: replaces that section of docs/BENCHMARKS.md
set -euo pipefail
cd "$(dirname "$0")/.."

FLOW_ONLY=0
args=()
for arg in "$@"; do
  case $arg in
    --flow-only) FLOW_ONLY=1 ;;
    *) args+=("$arg") ;;
  esac
done
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -1) ($(nproc) cores)"

flow_section() {
  echo "## Optical flow"
  echo
  echo "Latest \`scripts/bench.sh\` run of \`benches/flow.rs\`, $(date -u +%Y-%m-%d), on $machine (load average $(cut -d' ' -f1 /proc/loadavg) at the start). Medians; the share is of 40 loss-and-gradient evaluations (a warm frame's iterations at the default \`--size 256\`) measured in the same run."
  echo
  cargo bench --locked --quiet --bench flow -- --threads "${THREADS:-2}"
}

if ((FLOW_ONLY)); then
  flow=$(mktemp)
  flow_section | tee "$flow"
  kept=$(mktemp)
  # The engine tables as they were, without the old flow section and trailing blank lines.
  if [[ -f docs/BENCHMARKS.md ]]; then
    awk '/^## Optical flow$/ { exit } { line[n++] = $0 }
      END { while (n > 0 && line[n - 1] == "") n--; for (i = 0; i < n; i++) print line[i]; if (n) print "" }' \
      docs/BENCHMARKS.md >"$kept"
  fi
  cat "$kept" "$flow" >docs/BENCHMARKS.md
  rm -f "$flow" "$kept"
  exit 0
fi

scripts/setup.sh
mkdir -p .cache/bench
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
out=$(mktemp)
cargo bench --locked --quiet --bench engine -- --conv .cache/bench/conv512.onnx --threads "${THREADS:-2}" "${args[@]}" | tee "$out"
echo | tee -a "$out"
flow_section | tee -a "$out"
{
  echo "# Benchmarks"
  echo
  echo "Latest \`scripts/bench.sh\` run, $(date -u +%Y-%m-%d), on $machine. Medians; the percentage is of the convolution peak measured in the same run."
  echo
  cat "$out"
} >docs/BENCHMARKS.md
rm -f "$out"
