#!/usr/bin/env bash
# The figures of docs/CLUSTER.md: a 20-second clip with sound made from the samples (as
# scripts/demo_video.sh makes the demo clip, a key frame every 2 s) stylized with the real VGG19 on
# the CPU, once in one piece and once as 4 segments on a local one-node Slurm cluster (2 tasks at
# once); the joined file against the one-piece render (ffprobe), the warping error at the seams
# with the blending and without it (--overlap 0), a task cancelled mid-segment and the array
# submitted again, and a strip of the frames around one seam.
#
#   scripts/cluster/measure.sh [--docs]     (as root; SIZE, ITERATIONS, FPS and OVERLAP [8] change
#                                            the settings; scripts/cluster/seams.sh N then tries
#                                            another overlap)
#
# Writes demo/cluster/ (report.txt, the videos, metrics JSON, seam.png); --docs copies the strip
# to docs/cluster_seam.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
docs=false
[[ ${1:-} == --docs ]] && docs=true
S=$ROOT/target/release/stylize
SIZE=${SIZE:-64} ITERATIONS=${ITERATIONS:-100,10} FPS=${FPS:-10}
OUT=$ROOT/demo/cluster
mkdir -p "$OUT"
cd "$OUT"
rm -rf parts parts-noblend slurm-*.out ./*.mp4 ./*.json report.txt resubmitted
report() { echo "$*" | tee -a report.txt; }
now() { date +%s.%N; }

"$ROOT/scripts/cluster/clip.sh" clip.mp4 "$FPS" 14
settings=(clip.mp4 -s "$ROOT/.cache/samples/painting.jpg" --size "$SIZE" --iterations "$ITERATIONS" --device cpu)
report "settings: ${settings[*]} (clip: 20 s at $FPS fps, 320x200, AAC sound)"
report "machine: $(nproc) cores, shared with other work; wall times are of this one run"

# One piece, on both cores.
t=$(now)
nice -n 10 "$S" video "${settings[@]}" -o whole.mp4 -q
report "one-piece render: $(echo "$(now) - $t" | bc) s"

# The cluster.
SLURM_DIR=/tmp/stylize-measure-slurm
"$ROOT/scripts/cluster/local-slurm.sh" stop "$SLURM_DIR" || true
rm -rf "$SLURM_DIR"
# Started under nice, which the tasks inherit: the machine is shared.
eval "$(nice -n 10 "$ROOT/scripts/cluster/local-slurm.sh" start "$SLURM_DIR" 2)"
trap '"$ROOT/scripts/cluster/local-slurm.sh" stop "$SLURM_DIR"' EXIT
wait_queue() { while [[ -n $(squeue -h -o %i) ]]; do sleep 1; done; }
submit() { # PLAN PARTS OUTPUT
  STYLIZE=$S SLURM_PARALLEL=2 SBATCH_ARGS="--chdir=$OUT --output=$OUT/slurm-%A_%a.out" \
    "$ROOT/scripts/cluster/slurm-render.sbatch" "$1" "$2" "$3" -- "${settings[@]}" --threads 1
}
"$S" plan "${settings[@]}" -o plan.json --segments 4 --overlap "${OVERLAP:-8}" -y
report "plan: $(grep -o '"first": [0-9]*' plan.json | tr '\n' ' ')"
t=$(now)
submit plan.json parts joined.mp4
wait_queue
report "4 segments, 2 tasks at once, 1 thread each, with the join: $(echo "$(now) - $t" | bc) s"

for f in whole joined; do
  report "$f.mp4: $(ffprobe -v error -show_entries stream=codec_name,nb_frames,start_time,duration:format=duration -of csv=p=0 $f.mp4 | tr '\n' ' ')"
  ffprobe -v error -select_streams v -show_entries packet=pts -of csv=p=0 $f.mp4 | sort -n >$f.video-pts.txt
  ffprobe -v error -select_streams a -show_entries packet=pts,size -of csv=p=0 $f.mp4 >$f.audio.txt
done
cmp -s whole.video-pts.txt joined.video-pts.txt && report "video timestamps: identical" || report "video timestamps: DIFFER"
cmp -s whole.audio.txt joined.audio.txt && report "sound packets (timestamps, sizes): identical" || report "sound packets: DIFFER"
ffmpeg -v error -xerror -i joined.mp4 -f null - && report "joined.mp4 decodes without error"

# Without the blending: no warm-up, no cross-fade (--overlap 0). A task is cancelled mid-segment
# and the array submitted again.
"$S" plan "${settings[@]}" -o plan-noblend.json --segments 4 --overlap 0 -y
submit plan-noblend.json parts-noblend noblend.mp4
while ! ls parts-noblend/segment-0000.done >/dev/null 2>&1; do sleep 1; done
victim=""
while [[ -z $victim ]]; do
  for task in $(squeue -h -t R -o %i); do
    k=${task##*_}
    [[ $k != "$task" && ! -f parts-noblend/segment-000$k.done ]] && { victim=$task; break; }
  done
  sleep 1
done
scancel "$victim"
report "cancelled task $victim mid-segment"
wait_queue
ls parts-noblend | tr '\n' ' ' | sed 's/^/parts after the cancel: /' | tee -a report.txt; echo | tee -a report.txt
touch resubmitted
submit plan-noblend.json parts-noblend noblend.mp4
wait_queue
report "after resubmitting: $(find . -name 'slurm-*.out' -newer resubmitted -exec grep -h -E 'already done|wrote segment' {} + | sort | tr '\n' ';')"
[[ -f noblend.mp4 ]] && report "noblend.mp4 joined"

# Seams: warping error per frame.
for f in whole joined noblend; do
  "$S" metrics --original clip.mp4 --stylized $f.mp4 --size "$SIZE" --json >metrics-$f.json
done
python3 "$ROOT/scripts/cluster/seams.py" plan.json whole=metrics-whole.json joined=metrics-joined.json \
  | tee -a report.txt
python3 "$ROOT/scripts/cluster/seams.py" plan-noblend.json noblend=metrics-noblend.json | tee -a report.txt

# A strip around the middle seam: original, without blending, with blending.
s=$("$ROOT/scripts/cluster/strip.sh" plan.json seam.png clip.mp4 noblend.mp4 joined.mp4)
report "strip: frames $((s - 3)) to $((s + 2)) (seam at $s): original, without blending, with blending: $OUT/seam.png"
$docs && cp seam.png "$ROOT/docs/cluster_seam.png"
true
