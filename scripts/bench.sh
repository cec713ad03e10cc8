#!/usr/bin/env bash
# Benchmarks: loss-and-gradient evaluations of the real VGG19 at three sizes with 2 CPU threads, against
# the CPU's convolution peak measured in the same run (one 3×3 512→512 convolution through ONNX Runtime),
# and the share of an L-BFGS iteration spent outside ONNX Runtime. Writes docs/BENCHMARKS.md (keeping the
# live preview section that scripts/bench_live.sh writes).
set -euo pipefail
cd "$(dirname "$0")/.."
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
# scripts/bench_live.sh keeps its own section of the file.
live=$(sed -n '/^## Live preview/,$p' docs/BENCHMARKS.md 2>/dev/null || true)
cargo bench --locked --quiet --bench engine -- --conv .cache/bench/conv512.onnx --threads "${THREADS:-2}" "$@" | tee "$out"
{
  echo "# Benchmarks"
  echo
  echo "Latest \`scripts/bench.sh\` run, $(date -u +%Y-%m-%d), on $(lscpu | sed -n 's/^Model name: *//p' | head -1) ($(nproc) cores). Medians; the percentage is of the convolution peak measured in the same run."
  echo
  cat "$out"
  if [[ -n $live ]]; then
    echo
    echo "$live"
  fi
} >docs/BENCHMARKS.md
rm -f "$out"
