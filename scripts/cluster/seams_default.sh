#!/usr/bin/env bash
# Seams at the default budgets, without a scheduler: the 20-s clip of measure.sh stylized in one
# piece and as 4 segments (2 at a time, --overlap 24), then the warping error at the seams
# (seams.py) and a strip around the middle seam (original, one piece, joined).
#   scripts/cluster/seams_default.sh   CRF (the clip's, 14), EXTRA (more options, e.g. "--crf 0"),
#                                      TAG (the folder under demo/cluster-default, "crf14")
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD S=$PWD/target/release/stylize
ORT_DYLIB_PATH=$(find "$ROOT/.venv" -name 'libonnxruntime.so*' | head -1)
export ORT_DYLIB_PATH
CRF=${CRF:-14} tag=${TAG:-crf14}
mkdir -p "demo/cluster-default/$tag" && cd "demo/cluster-default/$tag"
[[ -s clip.mp4 ]] || ffmpeg -v error -y -loop 1 -framerate 10 -i "$ROOT/.cache/samples/photo.jpg" \
  -f lavfi -i sine=frequency=220:duration=20 \
  -vf "scale=720:-2,crop=320:200:x='20+t*18':y='100+t*6',format=yuv420p" -t 20 -r 10 \
  -c:v libx264 -crf "$CRF" -g 20 -c:a aac -shortest clip.mp4
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
for f in whole joined; do
  "$S" metrics --original clip.mp4 --stylized $f.mp4 --size 64 --json >"metrics-$f.json"
done
python3 "$ROOT/scripts/cluster/seams.py" plan.json whole=metrics-whole.json joined=metrics-joined.json
s=$(python3 -c 'import json; print(json.load(open("plan.json"))["segments"][2]["first"])')
pick="select='between(n\,$((s - 3))\,$((s + 2)))',scale=160:-2,tile=6x1:padding=2:color=white"
ffmpeg -v error -y -i clip.mp4 -i whole.mp4 -i joined.mp4 -filter_complex \
  "[0:v]$pick[a];[1:v]$pick[b];[2:v]$pick[c];[a][b][c]vstack=3,split[x][y];[x]palettegen[p];[y][p]paletteuse" \
  -frames:v 1 seam.png
echo "strip: frames $((s - 3)) to $((s + 2)) (seam at $s): original, one piece, joined: $PWD/seam.png"
