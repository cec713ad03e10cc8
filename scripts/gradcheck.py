#!/usr/bin/env python3
"""Check the exported graphs against an independent float64 numpy reference.

  gradcheck.py --model DIR [--model DIR ...] [--weights PATH] [--sizes 32x48,37x53,17x23]
               [--no-variants] [--seed N]

For every model directory (as written by export_model.py) and image size:
  * features.onnx: gram matrices and content activations equal the reference's (rel err < 1e-4)
  * loss.onnx: content / style / tv / temporal / total loss equal the reference's (rel err < 1e-4)
  * for each loss term alone (other weights 0) and for the total, the directional derivative
    <grad, v> matches a central finite difference of the float64 reference along v, for
    v = grad/|grad| and two random directions (rel err < 1e-3)
Targets are the features of a second random image, so all terms are non-trivial.

For a tiny model (the default test model) the script also exports, into a temporary
directory, the same model with the other pooling and two models with unusual layer choices
(pre-ReLU conv layers, a loss on a layer that feeds a pooling, deepest layer without ReLU),
and checks them too. VGG19 models need --weights to rebuild the reference (slower).
Prints a table; exits 1 if any check fails.
"""

import argparse
import json
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no scripts/__pycache__ in the work tree
import export_model as em  # noqa: E402  (weights loaders and layer names only)

TOL_VALUE = 1e-4
TOL_GRAD = 1e-3
FD_EPS = 1e-7  # image range is [0, 1]; the float64 reference allows a tiny step, which
#                avoids crossing ReLU/max-pool kinks (with VGG19, 1e-5 already crosses some)


# ---------------------------------------------------------------------------------------------
# float64 reference: Caffe-preprocessed VGG trunk, im2col convolution, floor pooling

def conv3x3(x, w, b):
    """x [Cin,H,W], w [Cout,Cin,3,3], zero padding 1, stride 1 (cross-correlation)."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # [Cin,H,W,3,3]
    return np.tensordot(w, win, axes=([1, 2, 3], [0, 3, 4])) + b[:, None, None]


def pool2x2(a, mode):
    c, h, w = a.shape
    h2, w2 = h // 2, w // 2
    t = a[:, :2 * h2, :2 * w2].reshape(c, h2, 2, w2, 2)
    return t.max(axis=(2, 4)) if mode == "max" else t.mean(axis=(2, 4))


class Reference:
    def __init__(self, weights, pooling, style, content):
        self.w = {k: (np.asarray(w, np.float64), np.asarray(b, np.float64))
                  for k, (w, b) in weights.items()}
        self.pooling = pooling
        self.style, self.content = style, content  # [(canon, conv index, kind)]
        self.depth = max(k for _, k, _ in style + content) + 1

    def features(self, image):
        """image [1,3,H,W] RGB in [0,1] -> {(k, 'conv'|'relu'): [C,h,w]}"""
        x = image[0, ::-1].astype(np.float64) * 255.0
        x = x - np.array(em.MEAN_BGR, np.float64)[:, None, None]
        out = {}
        for k in range(self.depth):
            w, b = self.w[em.CONV_KEYS[k]]
            z = conv3x3(x, w, b)
            a = np.maximum(z, 0.0)
            out[(k, "conv")], out[(k, "relu")] = z, a
            x = a
            if k + 1 < self.depth and em.CONVS[k + 1][0] != em.CONVS[k][0]:
                x = pool2x2(a, self.pooling)
        return out

    @staticmethod
    def gram(f):
        c = f.shape[0]
        m = f.reshape(c, -1)
        return m @ m.T / f.size

    def targets(self, image):
        f = self.features(image)
        grams = [self.gram(f[(k, kind)]) for _, k, kind in self.style]
        conts = [f[(k, kind)] for _, k, kind in self.content]
        return grams, conts

    def loss(self, image, grams, conts, sw, cw, tvw, temporal=(0.0, None, None)):
        f = self.features(image)
        c_loss = sum(float(cw[j]) * np.mean((f[(k, kind)] - conts[j]) ** 2)
                     for j, (_, k, kind) in enumerate(self.content))
        s_loss = sum(float(sw[j]) * np.mean((self.gram(f[(k, kind)]) - grams[j]) ** 2)
                     for j, (_, k, kind) in enumerate(self.style))
        y = image.astype(np.float64) * 255.0
        dx = y[:, :, :, 1:] - y[:, :, :, :-1]
        dy = y[:, :, 1:, :] - y[:, :, :-1, :]
        tv = float(tvw) * 0.5 * (np.sum(dx * dx) + np.sum(dy * dy))
        tw, ttarget, tmask = temporal
        t_loss = 0.0
        if tw:
            d = y - ttarget.astype(np.float64) * 255.0
            t_loss = float(tw) * float(np.mean(tmask.astype(np.float64) * d * d))
        return {"content": float(c_loss), "style": float(s_loss), "tv": tv, "temporal": t_loss,
                "total": float(c_loss + s_loss + tv + t_loss)}


# ---------------------------------------------------------------------------------------------

def rel(a, b, floor=0.0):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    den = max(float(np.max(np.abs(b))), floor)
    if den == 0.0:
        return 0.0 if np.max(np.abs(a)) == 0 else float("inf")
    return float(np.max(np.abs(a - b)) / den)


def manifest_layers(man):
    style = [em.parse_layer(l["name"]) for l in man["style_layers"]]
    content = [em.parse_layer(l["name"]) for l in man["content_layers"]]
    return style, content


def raw_weights(man, weights_path):
    if man["name"] == "tiny":
        return em.tiny_weights(man["weights"].get("seed", 0))
    if not weights_path:
        raise em.UserError(f"model {man['name']!r} needs --weights to rebuild the reference")
    w, info = em.load_weights(weights_path)
    if man["weights"].get("sha256") and info["sha256"] != man["weights"]["sha256"]:
        raise em.UserError("--weights do not match the sha256 in the manifest")
    return w


class Table:
    def __init__(self):
        self.rows, self.failed = [], 0

    def add(self, model, size, check, value, err, tol):
        ok = np.isfinite(err) and err < tol
        self.failed += not ok
        self.rows.append((model, size, check, value, err, tol, ok))
        print(f"{model:<22} {size:>7}  {check:<26} {value:>12.5g}  {err:9.2e}  "
              f"{'ok' if ok else 'FAIL (tol %.0e)' % tol}", flush=True)


def check_model(label, model_dir, sizes, weights_path, seed, table, fd_eps=FD_EPS):
    import onnxruntime as ort

    with open(os.path.join(model_dir, "manifest.json")) as f:
        man = json.load(f)
    style, content = manifest_layers(man)
    ref = Reference(raw_weights(man, weights_path), man["pooling"], style, content)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    prov = ["CPUExecutionProvider"]
    fs = ort.InferenceSession(os.path.join(model_dir, man["features"]["file"]), so,
                              providers=prov)
    ls = ort.InferenceSession(os.path.join(model_dir, man["loss"]["file"]), so, providers=prov)
    feat_names = [o.name for o in fs.get_outputs()]
    loss_names = [o.name for o in ls.get_outputs()]
    rng = np.random.default_rng(seed)
    ns, nc = len(style), len(content)

    for (h, w) in sizes:
        size = f"{h}x{w}"
        image = rng.random((1, 3, h, w), dtype=np.float32)
        # the target image: smooth-ish so style and content differ from the noisy image
        target = (0.5 + 0.4 * np.sin(np.linspace(0, 6, h)[None, None, :, None]
                                     + np.linspace(0, 9, w)[None, None, None, :]
                                     + np.arange(3)[None, :, None, None])
                  + 0.05 * rng.standard_normal((1, 3, h, w))).astype(np.float32)

        # ---- features.onnx vs reference
        fo = dict(zip(feat_names, fs.run(None, {"image": target})))
        rg, rc = ref.targets(target)
        for j, (canon, _, _) in enumerate(style):
            table.add(label, size, f"features gram_{canon}", float(np.abs(rg[j]).max()),
                      rel(fo[f"gram_{canon}"], rg[j]), TOL_VALUE)
        for j, (canon, _, _) in enumerate(content):
            table.add(label, size, f"features content_{canon}", float(np.abs(rc[j]).max()),
                      rel(fo[f"content_{canon}"][0], rc[j]), TOL_VALUE)
        # use the (float32) ONNX targets for both sides
        grams = [fo[f"gram_{c}"] for c, _, _ in style]
        conts = [fo[f"content_{c}"] for c, _, _ in content]
        grams64 = [g.astype(np.float64) for g in grams]
        conts64 = [c[0].astype(np.float64) for c in conts]

        sw = (100.0 * rng.uniform(0.5, 2.0, ns)).astype(np.float32)
        cw = (5.0 * rng.uniform(0.5, 2.0, nc)).astype(np.float32)
        tvw = np.float32(1e-3)
        # temporal term: a target near the image, reliability weights in [0, 1] with zeros
        ttarget = np.clip(image + 0.1 * rng.standard_normal(image.shape), 0, 1).astype(np.float32)
        tmask = np.where(rng.random((1, 1, h, w)) < 0.2, 0.0,
                         rng.random((1, 1, h, w))).astype(np.float32)
        temporal = (np.float32(200.0), ttarget, tmask)
        no_temporal = (0.0, None, None)

        def run_onnx(sw_, cw_, tvw_, temporal_=no_temporal):
            tw_, tt_, tm_ = temporal_
            feeds = {"image": image, "style_weights": np.asarray(sw_, np.float32),
                     "content_weights": np.asarray(cw_, np.float32),
                     "tv_weight": np.array([tvw_], np.float32),
                     "temporal_weight": np.array([tw_], np.float32),
                     "temporal_target": tt_ if tw_ else np.zeros((1, 1, 1, 1), np.float32),
                     "temporal_mask": tm_ if tw_ else np.zeros((1, 1, 1, 1), np.float32)}
            for (c, _, _), g in zip(style, grams):
                feeds[f"gram_{c}"] = g
            for (c, _, _), t in zip(content, conts):
                feeds[f"content_{c}"] = t
            return dict(zip(loss_names, ls.run(None, feeds)))

        # ---- loss values
        out = run_onnx(sw, cw, tvw, temporal)
        rl = ref.loss(image, grams64, conts64, sw, cw, tvw, temporal)
        for term in ("content", "style", "tv", "temporal", "total"):
            name = "loss" if term == "total" else f"{term}_loss"
            table.add(label, size, f"value {term}", rl[term],
                      rel(out[name][0], rl[term]), TOL_VALUE)

        # ---- gradients: each term alone, and all together
        cases = {
            "content": (np.zeros(ns), cw, 0.0, no_temporal),
            "style": (sw, np.zeros(nc), 0.0, no_temporal),
            "tv": (np.zeros(ns), np.zeros(nc), tvw, no_temporal),
            "temporal": (np.zeros(ns), np.zeros(nc), 0.0, temporal),
            "total": (sw, cw, tvw, temporal),
        }
        for term, (sw_, cw_, tvw_, tmp_) in cases.items():
            if (term == "content" and nc == 0) or (term == "style" and ns == 0):
                continue
            g = run_onnx(sw_, cw_, tvw_, tmp_)["grad"].astype(np.float64)
            if not np.all(np.isfinite(g)):
                table.add(label, size, f"grad {term}", float("nan"), float("inf"), TOL_GRAD)
                continue
            gn = float(np.linalg.norm(g))
            dirs = [("grad", g / gn if gn > 0 else rng.standard_normal(g.shape))]
            dirs += [(f"rand{i}", rng.standard_normal(g.shape)) for i in (1, 2)]
            for dname, v in dirs:
                fp = ref.loss(image + fd_eps * v, grams64, conts64, sw_, cw_, tvw_, tmp_)[term]
                fm = ref.loss(image - fd_eps * v, grams64, conts64, sw_, cw_, tvw_, tmp_)[term]
                fd = (fp - fm) / (2 * fd_eps)
                an = float(np.sum(g * v))
                # floor: 1% of the typical size of <g, v> for a random v, so a direction that
                # happens to be nearly orthogonal to the gradient cannot blow up the ratio
                floor = 0.01 * gn * float(np.linalg.norm(v)) / np.sqrt(g.size)
                table.add(label, size, f"grad {term} <g,{dname}>", fd, rel(an, fd, floor),
                          TOL_GRAD)


def parse_sizes(text):
    out = []
    for part in text.split(","):
        h, w = part.lower().split("x")
        out.append((int(h), int(w)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", required=True, help="model directory")
    ap.add_argument("--weights", help="weights file, needed for VGG19 models")
    ap.add_argument("--sizes", default="32x48,37x53,17x23", help="HxW list")
    ap.add_argument("--no-variants", action="store_true",
                    help="for tiny models, skip the extra pooling/layer variants")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fd-eps", type=float, default=FD_EPS,
                    help="finite-difference step (image range is [0, 1])")
    args = ap.parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError:
        print(f"error: bad --sizes {args.sizes!r} (want e.g. 32x48,37x53)", file=sys.stderr)
        return 2
    table = Table()
    print(f"{'model':<22} {'size':>7}  {'check':<26} {'value':>12}  {'rel err':>9}")
    try:
        with tempfile.TemporaryDirectory(prefix="gradcheck-") as tmp:
            for d in args.model:
                label = os.path.basename(os.path.normpath(d))
                check_model(label, d, sizes, args.weights, args.seed, table, args.fd_eps)
                with open(os.path.join(d, "manifest.json")) as f:
                    man = json.load(f)
                if man["name"] != "tiny" or args.no_variants:
                    continue
                seed = man["weights"].get("seed", 0)
                other = "avg" if man["pooling"] == "max" else "max"
                exotic_s, exotic_c = "relu1_2,conv2_1,relu3_1", "relu2_2,conv3_2"
                variants = [
                    (f"tiny-{other}", [f"--pooling={other}"]),
                    ("tiny-odd-layers-max", ["--pooling=max", f"--style-layers={exotic_s}",
                                             f"--content-layers={exotic_c}"]),
                    ("tiny-odd-layers-avg", ["--pooling=avg", f"--style-layers={exotic_s}",
                                             f"--content-layers={exotic_c}"]),
                ]
                for vlabel, extra in variants:
                    out = os.path.join(tmp, vlabel)
                    rc = em.main(["--tiny", f"--seed={seed}", f"--out={out}", "-q"] + extra)
                    if rc != 0:
                        print(f"error: exporting variant {vlabel} failed", file=sys.stderr)
                        return 1
                    check_model(vlabel, out, sizes, None, args.seed, table, args.fd_eps)
    except em.UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (OSError, KeyError, json.JSONDecodeError) as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    n = len(table.rows)
    worst_v = max((r[4] for r in table.rows if r[5] == TOL_VALUE), default=0.0)
    worst_g = max((r[4] for r in table.rows if r[5] == TOL_GRAD), default=0.0)
    print(f"{n - table.failed}/{n} checks passed; worst rel err: values {worst_v:.2e} "
          f"(tol {TOL_VALUE:.0e}), gradients {worst_g:.2e} (tol {TOL_GRAD:.0e})")
    return 1 if table.failed else 0


if __name__ == "__main__":
    sys.exit(main())
