#!/usr/bin/env python3
"""Optical flow with known answers: stylize's DIS presets against OpenCV's DIS, in one run.

Makes greyscale frame pairs from the sample photograph with known motion (translation, rotation,
zoom, and a textured object moving over a still background) at 512x288 and 1280x720, times
stylize's flow for every preset (`cargo bench --bench flow -- --pairs DIR`) and OpenCV's
DISOpticalFlow with the same settings (its own presets ultrafast, fast, medium, and `quality`
built from the same parameters), both on THREADS threads, and prints one table: median time and
mean end-point error (16-pixel border left out) per motion, size and preset.

Run through `scripts/bench.sh flowacc`; needs opencv-python-headless (the bench's own virtualenv,
not the product's).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np

# (finest scale, patch size, stride, search iterations, refinement iterations): stylize's presets
# (src/temporal/flow/mod.rs FlowPreset) in OpenCV's terms. OpenCV keeps its spatial propagation on
# in every preset; stylize's `quality` runs without it (its error is lower so).
PRESETS = {
    "ultrafast": (2, 8, 4, 12, 0),
    "fast": (2, 8, 4, 16, 5),
    "medium": (1, 8, 3, 25, 5),
    "quality": (0, 8, 4, 12, 5),
}
SIZES = [(512, 288), (1280, 720)]
BORDER = 16


def affine_pair(base, matrix):
    """Frame b = frame a moved by the 2x3 `matrix` (a's pixel x is at matrix·x in b)."""
    h, w = base.shape
    b = cv2.warpAffine(base, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    u = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2] - xs
    v = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2] - ys
    return base, b, np.stack([u, v]).astype(np.float32)


def object_pair(background, texture, shift):
    """A textured square (a quarter of the height) moving by `shift` over a still background."""
    h, w = background.shape
    side = h // 4
    patch = cv2.resize(texture, (side, side), interpolation=cv2.INTER_AREA)
    x0, y0 = w // 3, h // 3
    a, b = background.copy(), background.copy()
    a[y0:y0 + side, x0:x0 + side] = patch
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    moved = cv2.warpAffine(patch, m, (side + 16, side + 16), flags=cv2.INTER_CUBIC)
    mask = cv2.warpAffine(np.ones_like(patch), m, (side + 16, side + 16), flags=cv2.INTER_LINEAR)
    region = b[y0:y0 + side + 16, x0:x0 + side + 16]
    region[:] = mask * moved + (1 - mask) * region
    flow = np.zeros((2, h, w), np.float32)
    flow[0, y0:y0 + side, x0:x0 + side] = shift[0]
    flow[1, y0:y0 + side, x0:x0 + side] = shift[1]
    return a, b, flow


def make_pairs(photo, painting, out):
    grey = cv2.cvtColor(cv2.imread(photo), cv2.COLOR_BGR2GRAY).astype(np.float32)
    texture = cv2.cvtColor(cv2.imread(painting), cv2.COLOR_BGR2GRAY).astype(np.float32)
    truth = {}
    for w, h in SIZES:
        base = cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA)
        c = ((w - 1) / 2, (h - 1) / 2)
        s = w / 512  # motions grow with the frame, as the same shot at a higher resolution
        motions = {
            "translation": np.float32([[1, 0, 3.3 * s], [0, 1, -1.7 * s]]),
            "rotation": cv2.getRotationMatrix2D(c, 2.0, 1.0).astype(np.float32),
            "zoom": cv2.getRotationMatrix2D(c, 0.0, 1.03).astype(np.float32),
        }
        pairs = {k: affine_pair(base, m) for k, m in motions.items()}
        pairs["object"] = object_pair(base, texture, (6.0 * s, 3.0 * s))
        for kind, (a, b, flow) in pairs.items():
            name = f"{kind}-{w}x{h}"
            for tag, img in (("a", a), ("b", b)):
                cv2.imwrite(os.path.join(out, f"{name}_{tag}.png"), np.clip(img + 0.5, 0, 255).astype(np.uint8))
            truth[name] = flow
    return truth


def epe(flow, truth):
    d = (flow - truth)[:, BORDER:-BORDER, BORDER:-BORDER]
    return float(np.sqrt((d ** 2).sum(axis=0)).mean())


def opencv(a, b, preset, runs):
    finest, patch, stride, gd, var = PRESETS[preset]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    dis.setFinestScale(finest)
    dis.setPatchSize(patch)
    dis.setPatchStride(stride)
    dis.setGradientDescentIterations(gd)
    dis.setVariationalRefinementIterations(var)
    dis.calc(a, b, None)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        flow = dis.calc(a, b, None)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), np.moveaxis(flow, 2, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photo", required=True)
    ap.add_argument("--painting", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    cv2.setNumThreads(args.threads)
    truth = make_pairs(args.photo, args.painting, args.work)

    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    out = subprocess.run(
        ["cargo", "bench", "--locked", "--quiet", "--bench", "flow", "--",
         "--pairs", args.work, "--runs", str(args.runs)],
        check=True, capture_output=True, text=True, env=env).stdout
    ours = {(r["pair"], r["preset"]): r["seconds"] for r in map(json.loads, out.splitlines())}

    print(f"OpenCV {cv2.__version__}, {args.threads} threads each; median of {args.runs} runs; "
          f"end-point error in pixels, mean over the frame less a {BORDER}-px border.")
    print()
    print("| motion | size | preset | stylize | OpenCV | time ratio | EPE stylize | EPE OpenCV | EPE ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for name, gt in truth.items():
        kind, size = name.split("-")
        a = cv2.imread(os.path.join(args.work, f"{name}_a.png"), cv2.IMREAD_GRAYSCALE)
        b = cv2.imread(os.path.join(args.work, f"{name}_b.png"), cv2.IMREAD_GRAYSCALE)
        for preset in PRESETS:
            raw = np.fromfile(os.path.join(args.work, f"{name}.{preset}.flow"), "<f4")
            mine = raw.reshape(2, *gt.shape[1:])
            t_cv, f_cv = opencv(a, b, preset, args.runs)
            t_me = ours[(name, preset)]
            e_me, e_cv = epe(mine, gt), epe(f_cv, gt)
            summary.setdefault((size, preset), []).append((t_me / t_cv, e_me / e_cv))
            print(f"| {kind} | {size} | {preset} | {t_me * 1e3:.1f} ms | {t_cv * 1e3:.1f} ms | "
                  f"{t_me / t_cv:.2f} | {e_me:.3f} | {e_cv:.3f} | {e_me / e_cv:.2f} |")
    print()
    print("Geometric means over the four motions:")
    print()
    print("| size | preset | time ratio (stylize / OpenCV) | EPE ratio |")
    print("|---|---|---|---|")
    for (size, preset), r in summary.items():
        r = np.array(r)
        g = np.exp(np.log(r).mean(axis=0))
        print(f"| {size} | {preset} | {g[0]:.2f} | {g[1]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
