"""The one escape helper for text from data (ui/text.py)."""
import re

from ui.text import escape_md, safe_md, scrub_paths


def test_markdown_image_and_link_become_literal():
    s = escape_md("![x](https://host/p.png) [log in](https://host/login)")
    # No unescaped '[' or '(' remains: markdown cannot form a link or an image.
    assert not re.search(r"(?<!\\)[\[\]()!]", s)
    assert s.replace("\\", "") == "![x](https://host/p.png) [log in](https://host/login)"


def test_streamlit_directives_and_headers_are_literal():
    for raw in (":red[alert]", "# Header", "**bold**", "$x^2$", "`code`", ":material/home:", "a|b"):
        out = escape_md(raw)
        assert out.replace("\\", "") == raw
        # Each markdown-active character is preceded by its escaping backslash.
        assert not re.search(r"(?<!\\)[:\[#*$`|]", out), out


def test_newlines_folded_and_length_capped():
    assert escape_md("a\n\n# b") == "a \\# b"
    assert len(escape_md("x" * 1000, max_len=50)) == 50


def test_scrub_paths_keeps_only_last_component():
    msg = "/root/.ssh/id_rsa does not exist; see /srv/app/checkpoints/run-1/config.json"
    assert scrub_paths(msg) == "‹id_rsa› does not exist; see ‹config.json›"
    assert "/root" not in safe_md(msg)
    assert scrub_paths("epoch 3/10 and a/b relative") == "epoch 3/10 and a/b relative"
