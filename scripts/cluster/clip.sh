#!/usr/bin/env bash
# The cluster measurements' clip, made from the samples as the demo clip is: a 320×200 window
# panning across the sample photograph for 20 s, a key frame every 2 s, a 220 Hz tone in AAC.
# The window moves by exactly 1.75 px right and 0.5 px down a frame (cropped at 4× the size, then
# shrunk), so the motion is even: a crop at 1× would round to the chroma grid and jerk every few
# frames, and those jerks, not the seams, would dominate the warping error.
#   scripts/cluster/clip.sh OUT.mp4 FPS CRF
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$1 fps=$2 crf=$3
ffmpeg -v error -y -loop 1 -framerate "$fps" -i "$root/.cache/samples/photo.jpg" \
  -f lavfi -i sine=frequency=220:duration=20 \
  -vf "format=rgb24,scale=2880:-2,crop=1280:800:x='80+n*7':y='400+n*2',scale=320:200:flags=area,format=yuv420p" \
  -t 20 -r "$fps" -c:v libx264 -crf "$crf" -g $((2 * fps)) -c:a aac -shortest "$out"
