#!/usr/bin/env bash
# The seams of a longer warm-up and cross-fade: after scripts/cluster/measure.sh, renders its clip
# again as 4 segments on the local Slurm cluster with --overlap N, and reports the warping error at
# the seams (scripts/cluster/seams.py) into demo/cluster/report.txt, and a strip of the frames
# around the middle seam: the original, then without blending, with measure.sh's overlap and with
# N (demo/cluster/seam.png; with --docs also docs/cluster_seam.png).
#
#   scripts/cluster/seams.sh N [--docs]   (as root; the same SIZE and ITERATIONS as measure.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
N=${1:?usage: seams.sh OVERLAP}
S=$ROOT/target/release/stylize
SIZE=${SIZE:-64} ITERATIONS=${ITERATIONS:-100,10}
cd demo/cluster
settings=(clip.mp4 -s "$ROOT/.cache/samples/painting.jpg" --size "$SIZE" --iterations "$ITERATIONS" --device cpu)
SLURM_DIR=/tmp/stylize-measure-slurm
"$ROOT/scripts/cluster/local-slurm.sh" stop "$SLURM_DIR" || true
rm -rf "$SLURM_DIR" "parts-$N"
eval "$(nice -n 10 "$ROOT/scripts/cluster/local-slurm.sh" start "$SLURM_DIR" 2)"
trap '"$ROOT/scripts/cluster/local-slurm.sh" stop "$SLURM_DIR"' EXIT
"$S" plan "${settings[@]}" -o "plan-$N.json" --segments 4 --overlap "$N" -y
t=$(date +%s.%N)
STYLIZE=$S SLURM_PARALLEL=2 SBATCH_ARGS="--chdir=$PWD --output=$PWD/slurm-%A_%a.out" \
  "$ROOT/scripts/cluster/slurm-render.sbatch" "plan-$N.json" "parts-$N" "overlap-$N.mp4" -- "${settings[@]}" --threads 1
while [[ -n $(squeue -h -o %i) ]]; do sleep 1; done
echo "--overlap $N: 4 segments, 2 tasks at once, with the join: $(echo "$(date +%s.%N) - $t" | bc) s" | tee -a report.txt
"$S" metrics --original clip.mp4 --stylized "overlap-$N.mp4" --size "$SIZE" --json >"metrics-overlap-$N.json"
python3 "$ROOT/scripts/cluster/seams.py" "plan-$N.json" "overlap-$N=metrics-overlap-$N.json" \
  whole=metrics-whole.json | tee -a report.txt

o=$(python3 -c 'import json; print(json.load(open("plan.json"))["segments"][1]["warmup"])')
s=$("$ROOT/scripts/cluster/strip.sh" plan.json seam.png clip.mp4 noblend.mp4 joined.mp4 "overlap-$N.mp4")
echo "strip: frames $((s - 3)) to $((s + 2)) (seam at $s): original; without blending; --overlap $o; --overlap $N: $PWD/seam.png" | tee -a report.txt
[[ ${2:-} == --docs ]] && cp seam.png "$ROOT/docs/cluster_seam.png"
true
