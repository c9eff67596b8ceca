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


def grid_pil(x: torch.Tensor, nrow: int, min_cell: int = 56, pad: int = 2) -> Image.Image:
    """x: (N, C, H, W) in [0, 1] -> one image, each cell enlarged (nearest neighbour, by a whole
    factor) to at least min_cell pixels wide, cells separated by ``pad`` white pixels."""
    factor = max(1, -(-min_cell // x.shape[-1]))
    big = torch.nn.functional.interpolate(x.float(), scale_factor=factor, mode="nearest") if factor > 1 else x
    return to_pil(make_grid(big, nrow, pad=pad))


def _font(size: int):
    from PIL import ImageFont
    return ImageFont.load_default(size=size)


def with_ticks(img: Image.Image, cell: tuple[int, int], pad: int, x_ticks: list[str],
               y_ticks: list[str] | None = None, x_title: str = "", y_title: str = "") -> Image.Image:
    """A sheet of equal cells (``cell`` = (h, w) pixels, ``pad`` pixels between and around them, the
    cells flush right, as ``traversal.sheet_image`` lays them out) with a tick label under each column
    and, optionally, left of each row: the latent values along each axis. Titles go after the ticks."""
    from PIL import ImageDraw
    # Pillow's built-in font has no U+2212 (it would draw a box): draw ASCII minus signs.
    x_ticks = [t.replace("−", "-") for t in x_ticks]
    y_ticks = [t.replace("−", "-") for t in y_ticks] if y_ticks else y_ticks
    h, w = cell
    cols, rows = len(x_ticks), len(y_ticks or [])
    font = _font(max(10, min(14, int(0.3 * w))))
    text_h = int(font.getbbox("0-.9")[3]) + 4
    x_title_h = text_h if x_title else 0
    left = 0
    if y_ticks:
        left = 8 + max(int(font.getlength(t)) for t in [*y_ticks, y_title])
    mode_white = 255 if img.mode == "L" else (255,) * len(img.mode)
    black = 0 if img.mode == "L" else (0,) * len(img.mode)
    out = Image.new(img.mode, (left + img.width, img.height + text_h + x_title_h + 2), mode_white)
    out.paste(img, (left, 0))
    draw = ImageDraw.Draw(out)
    grid_left = left + img.width - (cols * (w + pad) + pad)
    for k, t in enumerate(x_ticks):
        cx = grid_left + pad + k * (w + pad) + w // 2
        draw.text((cx, img.height + 2), t, fill=black, font=font, anchor="ma")
    if x_title:
        draw.text((grid_left + (cols * (w + pad)) // 2, img.height + 2 + text_h), x_title, fill=black, font=font,
                  anchor="ma")
    for r, t in enumerate(y_ticks or []):
        cy = pad + r * (h + pad) + h // 2
        draw.text((left - 4, cy), t, fill=black, font=font, anchor="rm")
    if y_title and rows:
        draw.text((left - 4, img.height + 2), y_title, fill=black, font=font, anchor="ra")
    return out


def tick_labels(lo: float, hi: float, n: int) -> list[str]:
    """n evenly spaced values from lo to hi as short labels ('−3', '−1.5', '0', …)."""
    if n == 1:
        return [f"{lo:.3g}"]
    vals = [lo + (hi - lo) * k / (n - 1) for k in range(n)]
    return [(f"{v:.2f}".rstrip("0").rstrip(".") if abs(v) > 1e-9 else "0").replace("-", "−") for v in vals]


def pad_square(img: Image.Image) -> Image.Image:
    """White margin on the right or at the bottom until the image is square (an N×N grid with its
    tick bands stays a square picture)."""
    side = max(img.size)
    if img.width == img.height:
        return img
    white = 255 if img.mode == "L" else (255,) * len(img.mode)
    out = Image.new(img.mode, (side, side), white)
    out.paste(img, (0, 0))
    return out
