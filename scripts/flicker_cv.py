#!/usr/bin/env python3
"""An independent flicker measure for scripts/temporal_bench.sh: the temporal warping error of a
stylized video along OpenCV's DIS optical flow (medium preset) of the original, so that the
project's own flow is not the only judge of its output.

Same definition as `stylize metrics`: both videos scaled to WxH; for each frame t ≥ 2, the backward
flow (t → t−1) and the forward flow (t−1 → t) of the original's grey frames; a pixel x is reliable
unless x + w falls outside the frame, the flows disagree (|w + ŵ|² > 0.01 (|w|² + |ŵ|²) + 0.5) or it
is on a motion boundary (|∇u|² + |∇v|² > 0.01 |w|² + 0.002); the error is the mean over reliable
pixels of the squared RGB difference (0–1 scale, mean of the channels) between stylized frame t and
stylized frame t−1 warped by the backward flow (bilinear).

Usage: flicker_cv.py ORIGINAL STYLIZED WIDTH HEIGHT [FRAMES]  → JSON on stdout.
FLICKER_WARP=cubic warps the stylized frame bicubically instead (a check of how much of a small
error is the measure's own interpolation: at sub-pixel motion bilinear sampling blurs).
Needs numpy and opencv-python-headless (the bench's own venv; the product does not use OpenCV).
"""
import json
import os
import subprocess
import sys

import cv2
import numpy as np

INTERPOLATION = cv2.INTER_CUBIC if os.environ.get("FLICKER_WARP") == "cubic" else cv2.INTER_LINEAR


def frames(path, w, h, limit):
    """RGB frames of `path` scaled to w×h (bicubic, as the stylize command scales), float 0–1."""
    cmd = ["ffmpeg", "-v", "error", "-i", path, "-vf", f"scale={w}:{h}:flags=bicubic",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    if limit:
        cmd[5:5] = ["-frames:v", str(limit)]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3).astype(np.float32) / 255.0


def reliability(backward, forward):
    """Ruder et al.'s weights on the grid of frame t, as src/temporal/reliability.rs."""
    h, w = backward.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    px, py = xs + backward[..., 0], ys + backward[..., 1]
    inside = (px >= -0.5) & (px <= w - 0.5) & (py >= -0.5) & (py <= h - 0.5)
    fw = cv2.remap(forward, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    u, v = backward[..., 0], backward[..., 1]
    agree = ((u + fw[..., 0]) ** 2 + (v + fw[..., 1]) ** 2
             <= 0.01 * (u * u + v * v + fw[..., 0] ** 2 + fw[..., 1] ** 2) + 0.5)
    grad = sum(g ** 2 for c in (u, v) for g in np.gradient(c))
    smooth = grad <= 0.01 * (u * u + v * v) + 0.002
    return (inside & agree & smooth).astype(np.float32)


def main():
    original, stylized, w, h = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    limit = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    a, b = frames(original, w, h, limit), frames(stylized, w, h, limit)
    n = min(len(a), len(b))
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    grey = [cv2.cvtColor((f * 255).round().astype(np.uint8), cv2.COLOR_RGB2GRAY) for f in a[:n]]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for t in range(1, n):
        backward = dis.calc(grey[t], grey[t - 1], None)
        forward = dis.calc(grey[t - 1], grey[t], None)
        mask = reliability(backward, forward)
        warped = cv2.remap(b[t - 1], xs + backward[..., 0], ys + backward[..., 1],
                           INTERPOLATION, borderMode=cv2.BORDER_REPLICATE)
        d2 = ((b[t] - warped) ** 2).mean(axis=2)
        err = float((d2 * mask).sum() / mask.sum()) if mask.sum() else None
        out.append({"frame": t, "warping_error": err, "reliable": float(mask.mean())})
    errs = [f["warping_error"] for f in out if f["warping_error"] is not None]
    json.dump({"frames": out, "mean": float(np.mean(errs)) if errs else None}, sys.stdout)


if __name__ == "__main__":
    main()
