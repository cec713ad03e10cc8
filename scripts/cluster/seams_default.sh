#!/usr/bin/env bash
# Seams at the default budgets, without a scheduler: the 20-s clip of measure.sh stylized in one
# piece, as 4 segments (2 at a time, --overlap 24, the default) and as 4 segments without a
# hand-over (--overlap 0), then the warping error at the seams (seams.py) and a strip around the
# middle seam (original, one piece, without a hand-over, with it).
#   scripts/cluster/seams_default.sh   CRF (the clip's, 14), EXTRA (more options, e.g. "--crf 0"),
#                                      TAG (the folder under demo/cluster-default, "crf14")
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD S=$PWD/target/release/stylize
ORT_DYLIB_PATH=$(find "$ROOT/.venv" -name 'libonnxruntime.so*' | head -1)
export ORT_DYLIB_PATH
CRF=${CRF:-14} tag=${TAG:-crf14}
mkdir -p "demo/cluster-default/$tag" && cd "demo/cluster-default/$tag"
[[ -s clip.mp4 ]] || "$ROOT/scripts/cluster/clip.sh" clip.mp4 10 "$CRF"
# shellcheck disable=SC2206
settings=(clip.mp4 -s "$ROOT/.cache/samples/painting.jpg" --size 64 --device cpu
  --model "$ROOT/models/vgg19" ${EXTRA:-})
t=$(date +%s)
nice -n 5 "$S" video "${settings[@]}" -o whole.mp4 -q -y $([[ -d .whole.mp4.part ]] && echo --resume)
echo "one piece: $(($(date +%s) - t)) s"
"$S" plan "${settings[@]}" -o plan.json --segments 4 -y
t=$(date +%s)
printf '%s\n' 0 1 2 3 | xargs -P2 -I{} nice -n 5 "$S" video "${settings[@]}" --plan plan.json \
  --segment {} -o parts/ -q --threads 1
"$S" join plan.json -o joined.mp4 -y
echo "4 segments, 2 at a time, and the join: $(($(date +%s) - t)) s"
"$S" plan "${settings[@]}" -o plan0.json --segments 4 --overlap 0 -y
printf '%s\n' 0 1 2 3 | xargs -P2 -I{} nice -n 5 "$S" video "${settings[@]}" --plan plan0.json \
  --segment {} -o parts0/ -q --threads 1
"$S" join plan0.json --parts parts0 -o joined0.mp4 -y
for f in whole joined joined0; do
  "$S" metrics --original clip.mp4 --stylized $f.mp4 --size 64 --json >"metrics-$f.json"
done
python3 "$ROOT/scripts/cluster/seams.py" plan.json whole=metrics-whole.json joined=metrics-joined.json \
  joined0=metrics-joined0.json
s=$("$ROOT/scripts/cluster/strip.sh" plan.json seam.png clip.mp4 whole.mp4 joined0.mp4 joined.mp4)
echo "strip: frames $((s - 3)) to $((s + 2)) (seam at $s): original, one piece, without and with the hand-over: $PWD/seam.png"
