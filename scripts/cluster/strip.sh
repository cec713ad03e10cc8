#!/usr/bin/env bash
# A strip of the 6 frames around the middle seam of a plan (3 before it, 3 from it), one row per
# video, top to bottom, written as a PNG; prints the seam's frame.
#   scripts/cluster/strip.sh PLAN OUT.png VIDEO...
set -euo pipefail
plan=$1 out=$2
shift 2
s=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["segments"][2]["first"])' "$plan")
pick="select='between(n\,$((s - 3))\,$((s + 2)))',scale=160:-2,tile=6x1:padding=2:color=white"
inputs=() graph="" rows=""
for i in $(seq 0 $(($# - 1))); do
  inputs+=(-i "${@:$((i + 1)):1}")
  graph+="[$i:v]$pick[r$i];"
  rows+="[r$i]"
done
ffmpeg -v error -y "${inputs[@]}" -filter_complex \
  "$graph${rows}vstack=$#,split[x][y];[x]palettegen[p];[y][p]paletteuse" -frames:v 1 "$out"
echo "$s"
