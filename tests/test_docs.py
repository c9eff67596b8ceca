"""The documents say what the code does: README.md stays a short entry point, every relative link
and anchor in README.md and docs/*.md resolves, every path and ``python -m`` command they name
exists, the tests docs/numbers.md cites exist, the limits table of docs/operating.md lists exactly
the limits of the code (``vae.limits`` and any ``Limit`` defined beside the analysis it bounds)
with their defaults, and every ``VAE_*`` environment variable the code reads is documented.

Plain text reading plus ``import vae.limits`` (no torch): fast, no network.
"""
from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import vae.limits
from vae.limits import Limit

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
DOCS = REPO / "docs"
OPERATING = DOCS / "operating.md"
NUMBERS = DOCS / "numbers.md"
README_MAX_LINES = 120
SOURCE_DIRS = ("vae", "ui", "pages", "scripts")  # where the app and its commands read the environment

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE = re.compile(r"`([^`\n]+)`")
ENV_LITERAL = re.compile(r"""["'](VAE_[A-Z0-9_]+)["']""")
ENV_NAME = re.compile(r"\bVAE_[A-Z0-9_]+\b")
PATH = re.compile(r"^(?:vae|ui|pages|bench|scripts|tests|docs)/[\w./-]*$|^app\.py$")
MODULE = re.compile(r"-m ((?:vae|bench)(?:\.\w+)*)\b")
SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-")


def _docs() -> list[Path]:
    return [README, *sorted(DOCS.glob("*.md"))]


def _prose(text: str) -> str:
    """Markdown without its fenced code blocks."""
    return FENCE.sub("", text)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", _prose(path.read_text()), re.M)}


def test_readme_is_a_short_entry_point():
    n = len(README.read_text().splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; move the detail into docs/ (at most {README_MAX_LINES})"


def test_every_relative_link_points_to_a_file_and_an_anchor_that_exist():
    bad = []
    for doc in _docs():
        for target in LINK.findall(_prose(doc.read_text())):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
                continue
            file, _, anchor = target.partition("#")
            dest = (doc.parent / file).resolve() if file else doc
            if not dest.exists():
                bad.append(f"{doc.relative_to(REPO)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                bad.append(f"{doc.relative_to(REPO)}: {target} (no such heading)")
    assert bad == []


def test_every_path_and_command_named_exists():
    bad = []
    for doc in _docs():
        text = doc.read_text()
        for code in CODE.findall(_prose(text)):
            if PATH.match(code) and not (REPO / code).exists():
                bad.append(f"{doc.relative_to(REPO)}: {code}")
        for module in MODULE.findall(text):
            base = REPO / module.replace(".", "/")
            if not (base.with_suffix(".py").is_file() or (base / "__main__.py").is_file()):
                bad.append(f"{doc.relative_to(REPO)}: python -m {module}")
    assert bad == []


def test_the_tests_numbers_cites_exist():
    """Each ``test_file.py::test_name`` (and a following ``::test_name`` of the same file) is a test."""
    cited, current = [], None
    for m in re.finditer(r"(test_\w+\.py)?::(test_\w+)|(test_\w+\.py)", NUMBERS.read_text()):
        current = m.group(1) or m.group(3) or current
        cited.append((current, m.group(2)))
    assert cited
    missing = []
    for file, name in cited:
        found = list((REPO / "tests").rglob(file))
        if not found:
            missing.append(file)
        elif name and not any(re.search(rf"^\s*def {name}\(", f.read_text(), re.M) for f in found):
            missing.append(f"{file}::{name}")
    assert missing == []


def _code_limits() -> list[tuple[str | None, float, str]]:
    """(env, default, where) of every Limit: the instances of vae.limits and every ``Limit(...)`` /
    ``Count(...)`` written elsewhere in vae/ with literal arguments (read, not imported: no torch)."""
    found = {id(v): (v.env, float(v.default), "vae/limits.py")
             for v in vars(vae.limits).values() if isinstance(v, Limit)}
    out = list(found.values())
    for path in sorted((REPO / "vae").rglob("*.py")):
        if path.name == "limits.py" and path.parent.name == "vae":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if fn not in ("Limit", "Count"):
                continue
            args = dict(zip(("name", "env", "default"), node.args)) | {k.arg: k.value for k in node.keywords}
            env, default = ast.literal_eval(args["env"]), ast.literal_eval(args["default"])
            out.append((env, float(default), str(path.relative_to(REPO))))
    return out


def _number(cell: str) -> float:
    """'70,000' / '2.5·10¹⁰' / '10¹¹' / '∞ (…)' -> float."""
    head = cell.strip().split(" ")[0].split("(")[0]
    if head.startswith("∞"):
        return math.inf
    m = re.fullmatch(r"(?:([\d.]+)·)?10([⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)", head)
    if m:
        return float(m.group(1) or 1) * 10 ** int(m.group(2).translate(SUPERSCRIPT))
    return float(head.replace(",", ""))


def _limits_table() -> list[tuple[str | None, float]]:
    """(env or None for '(fixed)', default) of each row of docs/operating.md's limits table."""
    lines = OPERATING.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| environment variable |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        env = ENV_NAME.search(cells[0])
        rows.append((env.group(0) if env else None, _number(cells[1])))
    return rows


def test_the_limits_table_lists_every_limit_with_its_default():
    code = _code_limits()
    table = _limits_table()
    documented = [env for env, _ in table if env]
    assert len(documented) == len(set(documented)), "a variable has two rows"
    assert set(documented) == {env for env, _, _ in code if env}
    defaults = dict(table)
    for env, default, where in code:
        if env:
            assert math.isclose(defaults[env], default), f"{env}: the table says {defaults[env]:g}, {where} {default:g}"
    fixed = sorted(d for env, d in table if env is None)
    assert fixed == sorted(d for env, d, _ in code if env is None)


def _env_in_code() -> dict[str, str]:
    """Every VAE_* variable the app and its commands read: string literals in the source, and the
    Limits' variables. {name: first file}."""
    found: dict[str, str] = {}
    files = [REPO / "app.py", *(p for d in SOURCE_DIRS for p in sorted((REPO / d).rglob("*.py")))]
    for path in files:
        for name in ENV_LITERAL.findall(path.read_text()):
            found.setdefault(name, str(path.relative_to(REPO)))
    for env, _, where in _code_limits():
        if env:
            found.setdefault(env, where)
    return found


def test_every_environment_variable_is_documented_and_every_documented_one_exists():
    code = _env_in_code()
    assert "VAE_MAX_ITEMS" in code and "VAE_CHECKPOINTS" in code  # the scan works
    text = "\n".join(p.read_text() for p in _docs())
    mentioned = set(ENV_NAME.findall(text))
    assert sorted(f"{name} ({where})" for name, where in code.items() if name not in mentioned) == []
    assert sorted(mentioned - set(code)) == []
