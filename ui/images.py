"""Images on a page: a tensor rendered by ``vae.export.images`` (the tensor work) and placed with st.image,
so nothing here does tensor math. A small PNG goes inline as a data URI, a large one through
Streamlit's media store (see ``image_source``)."""
from __future__ import annotations

import base64
import html
from functools import lru_cache
from pathlib import Path

import streamlit as st

from vae.export.images import grid_pil, png_bytes, to_pil

DISPLAY_PX = 112  # images are enlarged (nearest neighbour) to at least this many pixels
INLINE_MAX_BYTES = 48_000  # PNGs up to this size are sent inline with the page


def png_data_uri(png: bytes) -> str:
    """PNG bytes as a data URI: an image that travels with the page, with no URL to fetch."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@lru_cache(maxsize=1)
def app_icon() -> str:
    """The favicon, inline (read once per process). A Material icon name would make every browser
    fetch it from fonts.gstatic.com (`make run` promises no network), and a file path would put it in
    the media store again on every run, for the browser to fetch again."""
    return png_data_uri((Path(__file__).parent / "assets" / "favicon.png").read_bytes())


def image_source(img):
    """What st.image gets for a PIL image: a PNG data URI when it is small (a digit, a grid of them),
    else the image itself (Streamlit stores it and the browser fetches its URL).

    Inline, the image arrives with the script run's message and paints in the same pass as the rest
    of the panel; a media URL costs one more request per image after that (measured on the Latent
    map: the four images of a clicked point painted 120-150 ms after the panel). PNG, never
    Streamlit's default JPEG, which would blur the enlarged pixels."""
    png = png_bytes(img)
    if len(png) > INLINE_MAX_BYTES:
        return img
    return png_data_uri(png)


def show_image(x, caption: str | None = None, min_size: int = DISPLAY_PX, **kw) -> None:
    """x: a (C, H, W) tensor in [0, 1]; enlarged crisply."""
    kw.setdefault("output_format", "PNG")
    st.image(image_source(to_pil(x, min_size)), caption=caption, **kw)


def show_grid(x, nrow: int, caption: str | None = None, min_cell: int = 56, **kw) -> None:
    """x: an (N, C, H, W) tensor in [0, 1] as one image, each cell enlarged to ≥ min_cell pixels."""
    kw.setdefault("output_format", "PNG")
    st.image(image_source(grid_pil(x, nrow, min_cell)), caption=caption, **kw)


def show_png(png: bytes, caption: str | None = None, width: int | None = None, key: str = "") -> None:
    """PNG bytes placed inline, as a data URI: there is no media URL for the browser to fetch, so quick
    successive reruns (a slider held down) never show a stale URL's broken image. For images that change
    on every rerun, drawn without st.image's frame (show_image sends small images inline too)."""
    src = png_data_uri(png)
    size = f"width:{int(width)}px;max-width:100%" if width else "max-width:100%"
    alt = html.escape(caption or "", quote=True)
    cap = (f'<figcaption style="font-size:0.875rem;color:rgba(49,51,63,0.6);margin-top:0.25rem">'
           f'{html.escape(caption)}</figcaption>') if caption else ""
    st.html(f'<figure class="vae-inline-image {html.escape(key, quote=True)}" style="margin:0">'
            f'<img src="{src}" alt="{alt}" style="{size};image-rendering:pixelated">{cap}</figure>')


def show_image_inline(x, caption: str | None = None, min_size: int = DISPLAY_PX, width: int | None = None,
                      key: str = "") -> None:
    """x: a (C, H, W) tensor in [0, 1], enlarged crisply and placed inline (see show_png)."""
    show_png(png_bytes(to_pil(x, min_size)), caption, width, key)
