"""The decoder outside PyTorch: an ONNX file, and a plain layer list for the browser.

``onnx_bytes(model)`` exports z -> E[x|z] (the displayed image, in [0, 1]) with
``torch.onnx.export`` at opset ``OPSET``; ``check_onnx`` runs it in onnxruntime against
PyTorch. ``decoder_spec(model)`` describes the decoder as the layers the in-browser decoder
(``ui/components/assets/decoder.js``) implements: Linear, ReLU, Unflatten and
ConvTranspose2d, then a sigmoid for either likelihood (Bernoulli logits -> mean; the Gaussian
decoder's own output sigmoid). A decoder holding anything else raises ``Unsupported``, and the
app falls back to decoding on the server. onnx and onnxruntime are imported lazily (slow imports).
"""
from __future__ import annotations

import hashlib
import io
import json

import torch
from torch import nn

from vae.limits import BudgetError, Limit, check_budget
from vae.model.networks import VAE

OPSET = 17
# Budgets (vae.limits): the weights one browser is sent (float32, once per run), and one ONNX export.
BROWSER_WEIGHTS = Limit("decoder weights sent to a browser", "VAE_MAX_BROWSER_WEIGHTS", 8e6, " weights")
EXPORT_PARAMS = Limit("decoder parameters exported to ONNX", "VAE_MAX_EXPORT_PARAMS", 5e7, " parameters")


class Unsupported(ValueError):
    """The decoder holds a layer the browser decoder does not implement."""


class MeanImage(nn.Module):
    """z (B, D) -> E[x|z] (B, C, H, W): the decoder with its output activation, for export."""

    def __init__(self, model: VAE):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model.mean_image(z)


def check_export(model: VAE) -> None:
    """Raise BudgetError if this decoder is over the server's ONNX export budget."""
    check_budget(sum(p.numel() for p in model.decoder.parameters()), EXPORT_PARAMS, "This ONNX export")


def onnx_bytes(model: VAE, opset: int = OPSET) -> bytes:
    """The decoder z -> E[x|z] as an ONNX model (input "z": (batch, D), output "image": (batch, C, H, W))."""
    if opset < 17:
        raise ValueError(f"opset {opset} is too old; the export needs 17 or later")
    check_export(model)
    wrapper = MeanImage(model).eval()
    z = torch.zeros(2, model.latent_dim)
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(wrapper, (z,), buf, input_names=["z"], output_names=["image"], opset_version=opset,
                          dynamic_axes={"z": {0: "batch"}, "image": {0: "batch"}}, dynamo=False)
    return buf.getvalue()


def run_onnx(data: bytes, z: torch.Tensor) -> torch.Tensor:
    """Run an exported decoder in onnxruntime (CPU): z (B, D) -> (B, C, H, W)."""
    import onnxruntime as ort  # slow import: only when asked
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    (out,) = sess.run(["image"], {"z": z.detach().float().cpu().numpy()})
    return torch.from_numpy(out)


def check_onnx(model: VAE, data: bytes, n: int = 16, seed: int = 0) -> float:
    """Max |onnxruntime − PyTorch| of E[x|z] over n seeded draws z ~ N(0, 2² I)."""
    import onnx
    onnx.checker.check_model(onnx.load_from_string(data))
    g = torch.Generator().manual_seed(seed)
    z = 2 * torch.randn(n, model.latent_dim, generator=g)
    with torch.no_grad():
        ref = model.mean_image(z)
    return float((run_onnx(data, z) - ref).abs().max())


# ----------------------------------------------------------------------------- browser decoder


def decoder_spec(model: VAE) -> tuple[dict, bytes]:
    """(spec, weights): the decoder's layers as JSON-ready dicts, and every weight as one little-endian
    float32 blob the layers index into (``w``/``b``: offsets in floats). ``spec["hash"]`` is the SHA-256 of
    spec and weights together, the browser's cache key. Raises Unsupported for a layer it cannot describe."""
    blobs: list[torch.Tensor] = []
    offset = 0

    def put(t: torch.Tensor) -> int:
        nonlocal offset
        t = t.detach().float().cpu().contiguous().reshape(-1)
        blobs.append(t)
        start, offset = offset, offset + t.numel()
        return start

    layers: list[dict] = []
    shape: tuple[int, ...] = (model.latent_dim,)
    for m in model.decoder:
        if isinstance(m, nn.Linear):
            if shape != (m.in_features,):
                raise Unsupported(f"a Linear layer expects {m.in_features} inputs but gets shape {shape}")
            layers.append(dict(op="linear", n_in=m.in_features, n_out=m.out_features, w=put(m.weight),
                               b=put(m.bias) if m.bias is not None else -1))
            shape = (m.out_features,)
        elif isinstance(m, nn.ReLU):
            layers.append(dict(op="relu"))
        elif isinstance(m, nn.Unflatten):
            to = tuple(int(s) for s in m.unflattened_size)
            if m.dim != 1 or len(shape) != 1 or _numel(to) != shape[0]:
                raise Unsupported(f"an Unflatten to {to} from shape {shape}")
            layers.append(dict(op="unflatten", shape=list(to)))
            shape = to
        elif isinstance(m, nn.ConvTranspose2d):
            if len(shape) != 3 or shape[0] != m.in_channels:
                raise Unsupported(f"a ConvTranspose2d expects {m.in_channels} channels but gets shape {shape}")
            if m.groups != 1 or tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros" \
                    or m.kernel_size[0] != m.kernel_size[1] or m.stride[0] != m.stride[1] \
                    or m.padding[0] != m.padding[1] or m.output_padding[0] != m.output_padding[1]:
                raise Unsupported("a ConvTranspose2d with groups, dilation or unequal height/width settings")
            k, s, p, op = m.kernel_size[0], m.stride[0], m.padding[0], m.output_padding[0]
            h_out = (shape[1] - 1) * s - 2 * p + k + op
            w_out = (shape[2] - 1) * s - 2 * p + k + op
            layers.append(dict(op="convt", c_in=m.in_channels, c_out=m.out_channels, k=k, stride=s, pad=p,
                               h_in=shape[1], w_in=shape[2], h_out=h_out, w_out=w_out, w=put(m.weight),
                               b=put(m.bias) if m.bias is not None else -1))
            shape = (m.out_channels, h_out, w_out)
        else:
            raise Unsupported(f"the browser decoder has no {type(m).__name__} layer")
    c, h, w = model.image_shape
    if _numel(shape) != c * h * w:
        raise Unsupported(f"the decoder's output {shape} is not an image of shape {(c, h, w)}")
    try:
        check_budget(offset, BROWSER_WEIGHTS, "Decoding in the browser")
    except BudgetError as e:
        raise Unsupported(str(e)) from None
    # Either likelihood shows sigmoid(decoder output): the Bernoulli mean, or the Gaussian mean
    # (whose decode() applies the sigmoid itself); mean_image is the reference.
    spec = dict(version=1, latent_dim=model.latent_dim, image_shape=[c, h, w], layers=layers, output="sigmoid",
                likelihood=model.config.likelihood, n_weights=offset)
    weights = torch.cat(blobs).numpy().astype("<f4").tobytes() if blobs else b""
    spec["hash"] = hashlib.sha256(json.dumps(spec, sort_keys=True).encode() + weights).hexdigest()[:32]
    return spec, weights


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def images_u8(x: torch.Tensor, rows: list[int] | None = None) -> bytes:
    """Images (N, C, H, W) in [0, 1] (those at ``rows``, if given) as uint8 bytes in that order, rounded as
    ``vae.export.images.to_pil`` does: what the browser draws for a data point (hover, thumbnails)."""
    x = x if rows is None else x[list(rows)]
    return (x.detach().float().cpu().clamp(0, 1) * 255 + 0.5).to(torch.uint8).contiguous().numpy().tobytes()
