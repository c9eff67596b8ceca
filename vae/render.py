"""Tensors to images for display and export: grids, crisp enlargement, PNG/GIF bytes."""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image


def make_grid(x: torch.Tensor, nrow: int, pad: int = 1, pad_value: float = 1.0) -> torch.Tensor:
    """x: (N, C, H, W) in [0, 1] -> (C, rows·(H+pad)+pad, nrow·(W+pad)+pad), row-major."""
    n, c, h, w = x.shape
    nrow = max(1, min(nrow, n))
    rows = -(-n // nrow)
    out = torch.full((c, rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value, dtype=x.dtype)
    for i in range(n):
        r, k = divmod(i, nrow)
        out[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + k * (w + pad): pad + k * (w + pad) + w] = x[i]
    return out


def to_pil(x: torch.Tensor, min_size: int = 0) -> Image.Image:
    """x: (C, H, W) in [0, 1] -> an L or RGB image, enlarged by a whole factor with
    nearest-neighbour scaling until its shorter side is ≥ min_size (so 8×8 digits stay crisp)."""
    x = x.detach().float().cpu().clamp(0, 1)
    arr = (x.numpy() * 255 + 0.5).astype(np.uint8)
    img = Image.fromarray(arr[0], "L") if arr.shape[0] == 1 else Image.fromarray(arr.transpose(1, 2, 0), "RGB")
    h, w = arr.shape[1:]
    factor = max(1, -(-min_size // max(1, min(h, w)))) if min_size else 1
    if factor > 1:
        img = img.resize((w * factor, h * factor), Image.NEAREST)
    return img


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def gif_bytes(frames: list[Image.Image], duration_ms: int = 80, bounce: bool = True) -> bytes:
    """An animated, looping GIF; with bounce the frames play forward then back."""
    if not frames:
        raise ValueError("a GIF needs at least one frame")
    seq = frames + frames[-2:0:-1] if bounce and len(frames) > 2 else frames
    buf = io.BytesIO()
    seq[0].save(buf, format="GIF", save_all=True, append_images=seq[1:], duration=duration_ms, loop=0)
    return buf.getvalue()
