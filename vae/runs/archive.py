"""Run folders as zip archives: export for download, validated import for upload.

An import is checked whole in memory (config parses, weights load into the model
the config describes) before anything is written; then it is written into a
hidden temp folder inside the checkpoints root and renamed into place, so a bad
or interrupted upload leaves nothing behind and never overwrites a run.
"""
from __future__ import annotations

import io
import shutil
import threading
import time
import uuid
import zipfile
from pathlib import Path, PurePosixPath

from vae.runs.folder import (CONFIG, HISTORY, MAX_CONFIG_BYTES, MAX_WEIGHTS_BYTES, STATUS, WEIGHTS,
    CheckpointError, model_from_state, parse_config, parse_history, read_state_dict, save_weights,
    write_history)
from vae.runs.paths import default_runs_root
from vae.runs.catalog import folder_bytes, unique_run_dir, upload_quota, upload_usage
from vae.files import write_json_atomic
from vae.runs.validate import CARD, MAX_CARD_BYTES, MAX_HISTORY_BYTES, parse_card
from vae.files import zip_entry_count

MAX_MEMBERS = 64  # a run folder holds a handful of files
MAX_UNPACKED = 512 << 20  # bytes, summed over the members we read
WEIGHT_NAMES = (WEIGHTS, "model.pt", "model.pth")
# Bytes read of each member: a longer config or weights file is refused; a history is read
# up to its cap and the rest ignored (it is informative only).
# A card (optional) is cut at its cap like a history.
MEMBER_LIMIT = ({CONFIG: MAX_CONFIG_BYTES, HISTORY: MAX_HISTORY_BYTES, CARD: MAX_CARD_BYTES}
                | {n: MAX_WEIGHTS_BYTES for n in WEIGHT_NAMES})
RUN_FILES = (CONFIG, HISTORY, CARD, *WEIGHT_NAMES)  # the members an import reads; others are ignored
_QUOTA_LOCK = threading.Lock()  # one upload at a time checks the quota and writes


def export_run(run_dir: Path) -> bytes:
    """A zip of the run's files under a folder named after the run."""
    run_dir = Path(run_dir)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in (CONFIG, WEIGHTS, HISTORY, CARD):
            if (run_dir / name).is_file():
                z.write(run_dir / name, f"{run_dir.name}/{name}")
    return buf.getvalue()


def read_zip(data: bytes, max_unpacked: int = MAX_UNPACKED) -> dict[str, bytes]:
    """The run files in a zip, keyed by base name. Refuses escaping paths and zip bombs."""
    buf = io.BytesIO(data)
    count = zip_entry_count(buf)  # from the end record, before zipfile parses every entry
    if count is None:
        raise CheckpointError("the upload is not a readable zip file (no end-of-archive record)")
    if count > MAX_MEMBERS:
        raise CheckpointError(f"the zip holds {count:,} entries; a run folder has a few files")
    try:
        z = zipfile.ZipFile(buf)
        infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"the upload is not a readable zip file ({e})") from None
    if len(infos) > MAX_MEMBERS:
        raise CheckpointError(f"the zip holds {len(infos)} entries; a run folder has a few files")
    files: dict[str, bytes] = {}
    total = 0
    for info in infos:
        p = PurePosixPath(info.filename.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
            raise CheckpointError(f"the zip entry {info.filename!r} points outside its folder; refused")
        if info.is_dir() or p.name not in RUN_FILES or len(p.parts) > 2:
            continue
        if p.name in files:
            raise CheckpointError(f"the zip holds more than one {p.name}; upload one run at a time")
        limit = MEMBER_LIMIT[p.name]
        if p.name in WEIGHT_NAMES and info.file_size > limit:
            raise CheckpointError(f"{p.name} in the zip is {info.file_size:,} bytes, more than this server "
                                  f"accepts ({limit:,})")
        want = min(info.file_size, limit + (p.name == CONFIG))  # a config one byte over: parse_config names it
        total += info.file_size
        if total > max_unpacked:
            raise CheckpointError(f"the zip unpacks to more than {max_unpacked >> 20} MiB; refused")
        try:
            with z.open(info) as f:
                raw = f.read(want + 1)  # never trust the declared size: read at most one byte more
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
            raise CheckpointError(f"the zip entry {info.filename!r} cannot be read ({e})") from None
        if len(raw) > want:
            if want == info.file_size:
                raise CheckpointError(f"the zip entry {info.filename!r} is larger than it claims; refused")
            raw = raw[:want]  # past its cap (parse_config then names a long config): the rest is never inflated
        files[p.name] = raw
    return files


def validate_files(files: dict[str, bytes]):
    """(config, model, history) from a run's files, or CheckpointError."""
    if CONFIG not in files:
        raise CheckpointError(f"the upload has no {CONFIG}; a run needs {CONFIG} and {WEIGHTS}")
    wname = next((n for n in WEIGHT_NAMES if n in files), None)
    if wname is None:
        raise CheckpointError(f"the upload has no {WEIGHTS} (or model.pt); a run needs {CONFIG} and {WEIGHTS}")
    if len(files[wname]) > MAX_WEIGHTS_BYTES:
        raise CheckpointError(f"{wname} is {len(files[wname]):,} bytes, more than this server accepts")
    if len(files.get(HISTORY, b"")) > MAX_HISTORY_BYTES:
        files = files | {HISTORY: files[HISTORY][:MAX_HISTORY_BYTES]}
    cfg = parse_config(files[CONFIG], CONFIG)
    model = model_from_state(cfg, read_state_dict(files[wname], wname), wname)
    history = parse_history(files.get(HISTORY, b""))
    return cfg, model, history


def import_run(files: dict[str, bytes], name: str, root: Path | None = None) -> Path:
    """Validate a run's files and write them as a new run folder; returns its path."""
    cfg, model, history = validate_files(files)
    root = Path(root or default_runs_root())
    root.mkdir(parents=True, exist_ok=True)
    max_runs, max_bytes = upload_quota()
    with _QUOTA_LOCK:
        n, used = upload_usage(root)
        if n >= max_runs:
            raise CheckpointError(f"this server keeps at most {max_runs} uploaded runs and has {n}; "
                                  "delete one in the sidebar first")
        dest = unique_run_dir(name, root)
        tmp = root / f".upload-{uuid.uuid4().hex}"
        try:
            tmp.mkdir()
            write_json_atomic(tmp / CONFIG, cfg.to_dict())  # re-serialised from the validated config
            save_weights(tmp / WEIGHTS, model)  # always safetensors, whatever was uploaded
            write_history(tmp, history)
            card = parse_card(files.get(CARD, b""))
            if card:
                (tmp / CARD).write_text(card + "\n", encoding="utf-8")  # re-written from the parsed text
            write_json_atomic(tmp / STATUS, {"state": "finished", "message": "uploaded", "origin": "upload",
                                             "updated": time.time()})
            if used + folder_bytes(tmp) > max_bytes:
                raise CheckpointError(f"this server keeps at most {max_bytes >> 20} MB of uploaded runs and "
                                      f"{used / 2**20:.0f} MB are used; delete one in the sidebar first")
            tmp.rename(dest)
        except OSError as e:
            raise CheckpointError(f"could not write the uploaded run ({e.strerror})") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def import_upload(uploads: list[tuple[str, bytes]], root: Path | None = None, name: str | None = None) -> Path:
    """From the app's uploader: one zip, or loose files (config.json + model.safetensors)."""
    if not uploads:
        raise CheckpointError("nothing was uploaded")
    zips = [(n, d) for n, d in uploads if n.lower().endswith(".zip")]
    if zips:
        if len(uploads) > 1:
            raise CheckpointError("upload either one zip or the loose files, not both")
        fname, data = zips[0]
        files = read_zip(data)
        default = Path(fname).stem
    else:
        files = {}
        for n, d in uploads:
            base = PurePosixPath(n.replace("\\", "/")).name
            if base not in RUN_FILES:
                raise CheckpointError(f"unexpected file {base!r}: upload {CONFIG} and {WEIGHTS} "
                                      f"(optionally {HISTORY} and {CARD}), or a zip of a run folder")
            files[base] = d
        default = "uploaded"
    return import_run(files, name or default, root)
