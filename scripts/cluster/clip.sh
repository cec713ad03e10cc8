#!/usr/bin/env bash
# The cluster measurements' clip, made from the samples as the demo clip is: a 320×200 window
# panning across the sample photograph for 20 s, a key frame every 2 s, a 220 Hz tone in AAC.
#   scripts/cluster/clip.sh OUT.mp4 FPS CRF
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$1 fps=$2 crf=$3
ffmpeg -v error -y -loop 1 -framerate "$fps" -i "$root/.cache/samples/photo.jpg" \
  -f lavfi -i sine=frequency=220:duration=20 \
  -vf "scale=720:-2,crop=320:200:x='20+t*18':y='100+t*6',format=yuv420p" -t 20 -r "$fps" \
  -c:v libx264 -crf "$crf" -g $((2 * fps)) -c:a aac -shortest "$out"
