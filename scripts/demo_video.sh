#!/usr/bin/env bash
# Makes the README's video example: a 2-second clip panning across the sample photograph (with a
# sine-tone sound track), stylized by `stylize video` with the sample painting and the default
# settings, then a GIF of it and a strip of frames (original above, stylized below).
# Writes demo/clip.mp4, demo/painted.mp4, demo/painted.gif, demo/strip.png and demo/stats.json;
# with --docs, also copies the GIF, the MP4 and the strip into docs/. STYLIZE_ARGS adds options.
set -euo pipefail
cd "$(dirname "$0")/.."
docs=false
if [[ ${1:-} == --docs ]]; then
  docs=true
  shift
fi
scripts/setup.sh "$@"
mkdir -p demo
# 720×450 picture, a 320×200 window moving right 80 px/s and down 15 px/s: moderate camera motion.
ffmpeg -v error -y -loop 1 -framerate 12 -i .cache/samples/photo.jpg -f lavfi -i sine=frequency=220:duration=2 \
  -vf "scale=720:-2,crop=320:200:x='40+t*80':y='150+t*15',format=yuv420p" -t 2 -r 12 \
  -c:v libx264 -crf 14 -c:a aac -shortest demo/clip.mp4
target/release/stylize video demo/clip.mp4 --style .cache/samples/painting.jpg -o demo/painted.mp4 \
  --stats demo/stats.json ${STYLIZE_ARGS:-}
# GIF and strip with palettes, to stay small enough for a README.
ffmpeg -v error -y -i demo/painted.mp4 -vf "scale=256:-2:flags=lanczos,split[a][b];\
[a]palettegen=max_colors=96:stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=4:diff_mode=rectangle" \
  -loop 0 demo/painted.gif
# Frames 1, 7, 13, 19 and 24: the original row above the stylized row.
pick="select='eq(n\,0)+eq(n\,6)+eq(n\,12)+eq(n\,18)+eq(n\,23)',scale=240:-2,tile=5x1:padding=4:color=white"
ffmpeg -v error -y -i demo/clip.mp4 -i demo/painted.mp4 -filter_complex \
  "[0:v]$pick[top];[1:v]$pick[bottom];[top][bottom]vstack,split[a][b];[a]palettegen[p];[b][p]paletteuse=dither=sierra2_4a" \
  -frames:v 1 demo/strip.png
if $docs; then
  cp demo/painted.gif docs/painted.gif
  cp demo/painted.mp4 docs/painted.mp4
  cp demo/strip.png docs/strip.png
fi
echo "the stylized clip is in $PWD/demo/painted.mp4 (GIF: demo/painted.gif, frames: demo/strip.png)"
