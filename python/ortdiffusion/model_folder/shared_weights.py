"""Model parts stored incomplete for shipping, and assembled into a complete part on first use: parts
that leave out the weights they share, byte for byte, with another part, that store their weights as
low-rank differences to another part's (low_rank_deltas.py), or whose weights are packed to int8
(packed_weights.py).

The shipped ControlNet variant's graph is the base UNet with a ControlNet fused in; ControlNet training
froze the UNet, so half of its weights are exactly the default model's UNet weights. Those tensors are
left out of its files: each keeps its name, type and shape, marked as external data at the location
``SHARED_LOCATION`` that no file has, and ``shared_weights.json`` names the part they come from (which may
itself be packed: its decoded values are what is shared). ONNX Runtime refuses external-data paths that
leave a model's folder, so the variant cannot point at the base's data file; instead
:func:`assembled_part` writes the complete part once into the cache (``$ORTDIFFUSION_CACHE_DIR/assembled``
or ``~/.cache/ortdiffusion/optimized/assembled``), keyed by the files of the part (and of the part it
shares with), and :func:`ortdiffusion.model_folder.part_folder` hands that folder to everything that reads
the part (sessions, LoRAs, quantize)."""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ortdiffusion.cache_dir import default_cache_dir
from ortdiffusion.model_folder.files import (
    DATA_FILE,
    MODEL_FILE,
    mark_external,
    read_config,
    replace_model_files,
    save_model_files,
)
from ortdiffusion.model_folder.low_rank_deltas import (
    DELTA_FILE,
    DELTA_LOCATION,
    LowRankDeltas,
    low_rank_factors,
    worth_factoring,
    write_factors,
)
from ortdiffusion.model_folder.packed_weights import MANIFEST as PACKED_MANIFEST
from ortdiffusion.model_folder.packed_weights import PACKED_FILE, PACKED_LOCATION, PackedWeights

logger = logging.getLogger(__name__)

MANIFEST = "shared_weights.json"
SHARED_LOCATION = "ortdiffusion-shared-weights"


def needs_assembly(part: Path) -> bool:
    """Whether ``part`` is stored incomplete (shared or packed weights) and must be read assembled."""
    return (part / MANIFEST).is_file() or (part / PACKED_MANIFEST).is_file()


def complete_part(part: Path) -> Path:
    """``part`` itself, or its assembled copy when it is stored incomplete (see :func:`assembled_part`)."""
    return assembled_part(part) if needs_assembly(part) else part


def _initializer_bytes(path: Path) -> dict[str, tuple[int, tuple[int, ...], bytes]]:
    """name -> (ONNX data type, shape, raw little-endian bytes) of every initializer of ``path``."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path), load_external_data=True)
    return {t.name: (t.data_type, tuple(t.dims), _little_endian_bytes(numpy_helper.to_array(t)))
            for t in model.graph.initializer}


def _little_endian_bytes(values: np.ndarray) -> bytes:
    """``values`` as the little-endian bytes ONNX stores in ``raw_data`` (numpy_helper gives native order)."""
    return np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).tobytes()


def share_weights(part: Path, base: Path, compare_with: Path | None = None, low_rank: int = 0,
                  base_prefixes: Mapping[str, str] | None = None) -> int:
    """Rewrite ``part`` (a folder with model.onnx) in place so every initializer identical to ``base``'s
    initializer of the same name (type, shape and bytes) is left out and read from ``base`` on assembly.
    Writes ``shared_weights.json``; returns how many tensors were left out.

    ``compare_with`` (a part folder) is what "identical" is judged against instead of ``base``: the copy of
    ``base`` the variant was exported with, when ``base`` has been packed since (packed_weights.py). The
    left-out tensors then read ``base``'s decoded values, so the variant's frozen half stays the shipped
    base UNet.

    ``low_rank`` > 0 also stores every other weight matrix of the same name, type and shape as ``base``'s
    plus a rank-``low_rank`` approximation of the difference (low_rank_deltas.py), where those factors
    hold at most half its values: for a part fine-tuned from ``base`` throughout.

    ``base_prefixes`` maps a name prefix of ``part`` to the prefix of the ``base`` tensor it is compared
    with (the fused ControlNet's ``{"controlnets.0.": "unet."}``: ControlNetModel.from_unet starts the
    ControlNet as a copy of the UNet's encoder, so its trained weights are low-rank away from it).
    Raises ValueError for a part that is stored incomplete already."""
    import onnx
    from onnx import numpy_helper

    if needs_assembly(part):
        raise ValueError(f"{part} is stored incomplete already ({MANIFEST} or {PACKED_MANIFEST} exists); share the "
                         "complete export's weights instead")
    reference = _initializer_bytes(complete_part(base) / MODEL_FILE)
    judged = reference if compare_with is None else _initializer_bytes(complete_part(compare_with) / MODEL_FILE)
    model = onnx.load(str(part / MODEL_FILE), load_external_data=True)
    shared: list[str] = []
    factors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    prefixes = dict(base_prefixes or {})
    for tensor in model.graph.initializer:
        base_name = _base_name(tensor.name, prefixes)
        known = judged.get(base_name)
        if known is None or reference.get(base_name, (None, None))[:2] != known[:2]:
            continue
        data = _little_endian_bytes(numpy_helper.to_array(tensor))
        if known == (tensor.data_type, tuple(tensor.dims), data):
            mark_external(tensor, SHARED_LOCATION, len(data))
            shared.append(tensor.name)
        elif low_rank and known[:2] == (tensor.data_type, tuple(tensor.dims)) \
                and tensor.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16) \
                and worth_factoring(tuple(tensor.dims), low_rank):
            values = numpy_helper.to_array(tensor)
            base_values = np.frombuffer(reference[base_name][2], dtype=values.dtype.newbyteorder("<"))
            delta = values.astype(np.float32) - base_values.reshape(values.shape).astype(np.float32)
            factors[tensor.name] = low_rank_factors(delta, low_rank)
            mark_external(tensor, DELTA_LOCATION, len(data))
    # The manifest first: with it and the old, complete files, assembly still works (every tensor is own).
    manifest: dict = {"weights_from": os.path.relpath(base, part), "tensors": sorted(shared),
                      "sha256": _digest(reference, [_base_name(n, prefixes) for n in shared + sorted(factors)])}
    if prefixes:
        manifest["base_prefixes"] = prefixes
    if factors:
        write_factors(part, factors)
        manifest["low_rank"] = {"rank": low_rank, "tensors": sorted(factors)}
    (part / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    replace_model_files(model, part)  # tensors without raw data (the shared ones) are saved as they are
    return len(shared) + len(factors)


def _base_name(name: str, prefixes: Mapping[str, str]) -> str:
    """The name of the base tensor ``name`` is compared with: its prefix renamed by ``prefixes``, if any."""
    for prefix, base_prefix in prefixes.items():
        if name.startswith(prefix):
            return base_prefix + name[len(prefix):]
    return name


def _digest(tensors: dict[str, tuple[int, tuple[int, ...], bytes]], names: list[str]) -> str:
    """SHA-256 over the named tensors' bytes in name order: detects a base whose values changed."""
    digest = hashlib.sha256()
    for name in sorted(names):
        digest.update(name.encode() + b"\0" + tensors[name][2])
    return digest.hexdigest()


def weights_source(part: Path) -> tuple[dict, Path]:
    """The manifest of ``part`` and the part folder it names. Raises ValueError when that folder is given
    as an absolute path, lies outside the folder holding ``part``'s model folder, is not a part of the
    same name (a manifest can only point at a sibling model's part), is ``part`` itself, or takes weights
    from another part in turn (one level only: no chains, so no cycles; the base may be packed)."""
    manifest = read_config(part, MANIFEST)  # ValueError naming the file if it is not JSON
    _check_manifest_fields(part, manifest)
    source = str(manifest.get("weights_from", ""))
    base = (part / source).resolve()
    models = part.resolve().parent.parent
    if not source or os.path.isabs(source) or not base.is_relative_to(models) or base.name != part.name \
            or base == part.resolve():
        raise ValueError(f"{part / MANIFEST}: weights_from {source!r} must name the {part.name}/ folder of another "
                         f"model beside this one (inside {models})")
    if (base / MANIFEST).is_file():
        raise ValueError(f"{part / MANIFEST}: {base} takes weights from another part in turn; a part can only be "
                         "based on a complete (or only packed) part")
    return manifest, base


def _check_manifest_fields(part: Path, manifest: object) -> None:
    """Raise ValueError naming ``part``'s manifest when a field assembly reads has the wrong type."""
    def names(value: object) -> bool:
        return isinstance(value, list) and all(isinstance(name, str) for name in value)

    problem = None
    if not isinstance(manifest, dict):
        problem = "it is not a JSON object"
    elif not names(manifest.get("tensors")):
        problem = '"tensors" is not a list of tensor names'
    elif not isinstance(manifest.get("sha256"), str):
        problem = '"sha256" is not a string'
    elif "base_prefixes" in manifest and not (isinstance(manifest["base_prefixes"], dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in manifest["base_prefixes"].items())):
        problem = '"base_prefixes" is not an object of prefix strings'
    elif "low_rank" in manifest and not (isinstance(manifest["low_rank"], dict)
                                         and names(manifest["low_rank"].get("tensors"))):
        problem = '"low_rank" is not an object with a "tensors" list of names'
    if problem:
        raise ValueError(f"{part / MANIFEST}: {problem}; rebuild the part (scripts/build_default_model.py)")


def _cache_root() -> Path:
    return default_cache_dir() / "assembled"


KEY_VERSION = b"assembled-v2"  # changes when assembly or a stored format is decoded differently
CONTENT_HASH_LIMIT = 64 << 20  # files up to this size are keyed by content; larger ones by size and time


def _key(part: Path, base: Path | None) -> str:
    """Changes with ``part``'s folder name and with any file of ``part`` and of ``base``, subfolders
    included: by content up to ``CONTENT_HASH_LIMIT`` (all of the shipped models' files: a repacked file of
    the same size and time is still seen), by size and modification time above it (a full-size model's
    weights)."""
    digest = hashlib.sha256(KEY_VERSION)
    digest.update(f"{part.name}\0".encode())  # the entry holds a folder of this name: identical parts differ by it
    for folder in (part, base) if base is not None else (part,):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            stat = path.stat()
            digest.update(f"{path.relative_to(folder).as_posix()}:{stat.st_size};".encode())
            if stat.st_size <= CONTENT_HASH_LIMIT:
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            else:
                digest.update(f"{stat.st_mtime_ns};".encode())
    return digest.hexdigest()[:32]


def _read_own(part: Path, tensor, info: dict[str, str]) -> bytes:
    location = info.get("location", "")
    if location != DATA_FILE:
        raise ValueError(f"{part / MODEL_FILE}: tensor {tensor.name!r} has external data at {location!r}; "
                         f"a shared-weights part keeps its own tensors in {DATA_FILE}")
    offset, length = int(info.get("offset", "0")), int(info["length"])
    with open(part / DATA_FILE, "rb") as f:
        f.seek(offset)
        data = f.read(length)
    if len(data) != length:
        raise ValueError(f"{part / DATA_FILE} ends before tensor {tensor.name!r} (offset {offset}, length {length})")
    return data


def assemble(part: Path, target: Path) -> None:
    """Write the complete part into the new folder ``target``: ``part``'s own tensors, its packed tensors
    decoded, the shared ones from the part its manifest names and its low-rank deltas added to that part's.
    Raises ValueError when the base tensors are missing from that part or their values changed (checked
    against the manifest's SHA-256: the base was rebuilt after the variant), or a packed tensor or delta
    cannot be decoded, naming the part and what to do."""
    import onnx

    based = _shared_reference(part)
    factors = LowRankDeltas(part) if based.deltas else None
    packed = PackedWeights(part) if (part / PACKED_MANIFEST).is_file() else None
    model = onnx.load(str(part / MODEL_FILE), load_external_data=False)
    for tensor in model.graph.initializer:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location")
        if location in (SHARED_LOCATION, DELTA_LOCATION):
            known = based.base_of(tensor.name)
            listed = based.shared if location == SHARED_LOCATION else based.deltas
            if tensor.name not in listed or known is None or known[:2] != (tensor.data_type, tuple(tensor.dims)):
                raise ValueError(f"{part}: tensor {tensor.name!r} marked {location!r} is not listed so in {MANIFEST} "
                                 "or has another type or shape in the part it is based on")
            # a listed delta means the manifest has "low_rank", so its factors were read above
            data = known[2] if location == SHARED_LOCATION else factors.apply(tensor, known[2])
        elif location == PACKED_LOCATION:
            if packed is None:
                raise ValueError(f"{part / MODEL_FILE}: tensor {tensor.name!r} is marked packed but the part has no "
                                 f"{PACKED_MANIFEST}; rebuild the part (scripts/build_default_model.py)")
            data = packed.decoded_bytes(tensor)
        else:
            data = _read_own(part, tensor, info)
        del tensor.external_data[:]
        tensor.data_location = onnx.TensorProto.DEFAULT
        tensor.raw_data = data
    target.mkdir(parents=True)
    save_model_files(model, target)
    for path in part.iterdir():  # configs, weights_map.json, the fused ControlNets' config folders
        if path.is_dir():
            shutil.copytree(path, target / path.name)
        elif path.name not in (MODEL_FILE, DATA_FILE, MANIFEST, PACKED_MANIFEST, PACKED_FILE, DELTA_FILE):
            shutil.copyfile(path, target / path.name)


@dataclass
class _BaseTensors:
    """What a part takes from the part it is based on: the names it shares and those it stores as low-rank
    deltas (its own names), the base's complete initializers, and the prefix renaming between the two."""

    shared: set[str] = field(default_factory=set)
    deltas: set[str] = field(default_factory=set)
    reference: dict[str, tuple[int, tuple[int, ...], bytes]] = field(default_factory=dict)
    prefixes: dict[str, str] = field(default_factory=dict)

    def base_of(self, name: str) -> tuple[int, tuple[int, ...], bytes] | None:
        """(type, shape, bytes) of the base tensor behind the part's tensor ``name``."""
        return self.reference.get(_base_name(name, self.prefixes))


def _shared_reference(part: Path) -> _BaseTensors:
    """What ``part`` takes from the part its shared_weights.json names (nothing when it has none), after
    checking those tensors against the manifest's SHA-256."""
    if not (part / MANIFEST).is_file():
        return _BaseTensors()
    manifest, base = weights_source(part)
    reference = _initializer_bytes(complete_part(base) / MODEL_FILE)
    shared, deltas = list(manifest["tensors"]), list(manifest.get("low_rank", {}).get("tensors", []))
    prefixes = dict(manifest.get("base_prefixes", {}))
    names = [_base_name(name, prefixes) for name in shared + deltas]
    missing = [name for name in names if name not in reference]
    if missing or _digest(reference, names) != manifest["sha256"]:
        raise ValueError(f"{part}: the weights it shares with {base} have changed ({len(missing)} missing, e.g. "
                         f"{missing[:2]}, or other values); rebuild the variant against this base "
                         "(scripts/build_default_model.py)")
    return _BaseTensors(set(shared), set(deltas), reference, prefixes)


def assembled_part(part: Path) -> Path:
    """The complete folder of the incomplete ``part`` (shared, low-rank or packed weights): from the cache,
    or assembled into it now (into a temporary folder, with a warning, when the cache cannot be written)."""
    base = None
    if (part / MANIFEST).is_file():
        manifest, base = weights_source(part)
        if not (base / MODEL_FILE).is_file():
            raise FileNotFoundError(f"{part} takes {len(manifest['tensors'])} weights from {base}, which has no "
                                    f"{MODEL_FILE}")
    entry = _cache_root() / _key(part, base)
    complete = entry / part.name
    if (complete / MODEL_FILE).is_file():
        return complete
    from ortdiffusion.atomic_file import publish_permissions, staging_folder

    try:
        staging = staging_folder(entry)
    except OSError as e:
        scratch = Path(tempfile.mkdtemp(prefix="ortdiffusion-assembled-"))
        atexit.register(shutil.rmtree, scratch, True)  # this process's copy only
        logger.warning("cannot write %s (%s); assembling %s in %s for this process", entry, e, part, scratch)
        assemble(part, scratch / part.name)
        return scratch / part.name
    try:
        assemble(part, staging / part.name)
        publish_permissions(staging)
        try:
            staging.rename(entry)  # never over an entry another process published meanwhile
        except OSError:
            if not (complete / MODEL_FILE).is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)  # another process finished first: use its copy
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("assembled %s into %s", part, complete)
    return complete
