"""Feature pre-caching: run a frozen encoder over a dataset once, train on its stored outputs many times.

:func:`cache_features` writes safetensors shards and an ``index.json``; :class:`CachedFeatures` is a
``Dataset`` over them that reads items lazily from memory-mapped shards. The research cached the
VLM features of SSv2 once (about 40 minutes) and every later run was fast.

Layout of a cache folder::

    plan.json                              what the shards hold: sample count, shard size, encoder fingerprint
    shard-00000-of-00004.safetensors       tensors "<feature>/<row>" of samples [0, S), ids + metadata in its header
    ...
    index.json                             written last: every sample's id, shard, row, shapes, dtype, metadata

Shard ``k`` holds the samples with dataset indices ``[k * shard_size, (k + 1) * shard_size)``, whatever
the number of processes. Each shard is written atomically (temporary name, fsync, rename), so after a
crash a shard either exists complete or not at all; a rerun skips the finished ones. Under
``accelerate launch`` (or given ``process_index`` / ``num_processes``) process ``p`` writes shards
``k`` with ``k % num_processes == p``, and after a barrier the main process merges the shard headers
into ``index.json`` (refusing duplicate ids).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from .._validation import check_bool, check_int
from .durable import write_atomic
from .features import encoder_fingerprint
from .specs import DTYPES

__all__ = [
    "CACHE_FORMAT",
    "CacheFingerprintError",
    "CachedFeatures",
    "IncompleteCacheError",
    "cache_features",
    "merge_cache_index",
    "shard_name",
]

#: The ``format`` entry of ``plan.json`` and ``index.json``.
CACHE_FORMAT = "foresight_models.feature_cache/1"
INDEX_FILE = "index.json"
PLAN_FILE = "plan.json"
# what features may be stored as: the config dtypes, and float64
_DTYPES = {**DTYPES, "float64": torch.float64}


class CacheFingerprintError(ValueError):
    """A cache was written by another encoder (or another dataset / shard size) than the one expected."""


class IncompleteCacheError(RuntimeError):
    """The index cannot be merged yet: some shards of the plan are missing."""


def shard_name(shard: int, num_shards: int) -> str:
    """File name of shard ``shard`` of ``num_shards``."""
    return f"shard-{shard:05d}-of-{num_shards:05d}.safetensors"


def _write_json(path: Path, data: Any) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)

    write_atomic(path, write)


def _distributed_state(process_index: int | None, num_processes: int | None) -> tuple[int, int, Any]:
    """``(process_index, num_processes, accelerate_state_or_None)``."""
    if (process_index is None) != (num_processes is None):
        raise ValueError("process_index and num_processes: give both or neither")
    if process_index is not None:
        num_processes = check_int(num_processes, "num_processes")
        process_index = check_int(process_index, "process_index", minimum=0, maximum=num_processes - 1)
        return process_index, num_processes, None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # launched by accelerate / torchrun
        from accelerate import PartialState

        # without CUDA, accelerate only forms a process group (gloo) when asked for the CPU
        state = PartialState(cpu=not torch.cuda.is_available())
        return state.process_index, state.num_processes, state
    return 0, 1, None


def _metadata_value(value: Any) -> bool:
    if isinstance(value, (str, bool, int, float)) or value is None:
        return True
    return isinstance(value, (list, tuple)) and all(isinstance(v, (str, bool, int, float)) for v in value)


def _item_metadata(item: Mapping[str, Any], keys: Sequence[str] | None) -> dict[str, Any]:
    if keys is None:
        return {k: v for k, v in item.items() if k != "id" and not isinstance(v, torch.Tensor) and _metadata_value(v)}
    missing = [k for k in keys if k not in item]
    if missing:
        raise KeyError(f"metadata: dataset items have no {missing} (they have {sorted(item)})")
    return {k: item[k] for k in keys}


def _shard_header(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    with safe_open(os.fspath(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if "foresight_cache" not in metadata:
        raise ValueError(f"{path} is not a foresight feature-cache shard (no 'foresight_cache' header)")
    return json.loads(metadata["foresight_cache"])


def _shard_is_done(path: Path, plan: Mapping[str, Any], shard: int) -> bool:
    if not path.is_file():
        return False
    try:
        header = _shard_header(path)
    except Exception:  # an unreadable file left by something else: rewrite it
        return False
    return header.get("fingerprint") == plan["fingerprint"] and header.get("indices") == _shard_indices(plan, shard)


def _shard_indices(plan: Mapping[str, Any], shard: int) -> list[int]:
    start = shard * plan["shard_size"]
    return list(range(start, min(start + plan["shard_size"], plan["num_samples"])))


def _split_outputs(outputs: Any, feature: str, batch_size: int) -> dict[str, torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        outputs = {feature: outputs}
    if not isinstance(outputs, Mapping) or not outputs:
        raise TypeError(
            f"encoder: expected it to return a tensor or a non-empty dict of name -> tensor, got {type(outputs).__name__}"
        )
    checked = {}
    for name, value in outputs.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"encoder: feature names must be non-empty strings without '/', got {name!r}")
        if not isinstance(value, torch.Tensor) or value.ndim < 1 or value.shape[0] != batch_size:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise ValueError(f"encoder: feature {name!r} must be a tensor of batch size {batch_size}, got {shape}")
        checked[name] = value
    return checked


def cache_features(
    encoder: Callable[[Mapping[str, Any]], torch.Tensor | Mapping[str, torch.Tensor]],
    dataset: Dataset,
    out_dir: str | os.PathLike,
    *,
    feature: str = "tokens",
    batch_size: int = 8,
    shard_size: int = 256,
    fingerprint: str | None = None,
    metadata: Sequence[str] | None = None,
    dtype: str | torch.dtype | None = None,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    num_workers: int = 0,
    process_index: int | None = None,
    num_processes: int | None = None,
    progress: bool = False,
) -> Path | None:
    """Run a frozen ``encoder`` over ``dataset`` once and store its outputs in ``out_dir``.

    Args:
        encoder: a callable ``batch -> tensor (b, ...)`` or ``-> {name: tensor (b, ...)}`` on a collated
            batch of items (``batch["frames"] (b, t, 3, h, w)``, ``batch["label"]`` ...). The wrappers of
            :mod:`foresight_models.training.features` (hybrid-encoder tokens, VLM hidden states, LTX VAE
            latents, T5 prompt embeddings, patch tokens) are such callables. It runs under ``torch.no_grad()``.
        dataset: a map-style dataset of dict items; ``item["id"]`` (str) names a sample (default: its index).
        out_dir: the cache folder (created if needed). A folder holding another plan is refused.
        feature: the name a bare tensor output is stored under.
        batch_size: items per encoder call.
        shard_size: samples per shard.
        fingerprint: a string identifying the encoder (and its weights); default: a hash of the encoder's
            config (:func:`~foresight_models.training.features.encoder_fingerprint`).
        metadata: item keys stored beside the tensors (in the index, returned with each item); default:
            every str / number / bool entry (and lists of them) except ``"id"``.
        dtype: store floating-point features in this dtype (``"float16"``, ``"bfloat16"``, ``"float32"``);
            default: as returned.
        collate_fn: batches items (default :func:`foresight_models.data.collate_clips`).
        num_workers: ``DataLoader`` workers that read the dataset.
        process_index, num_processes: which share of the shards this process writes; default: from
            ``accelerate`` when launched with several processes, else ``0`` of ``1``.
        progress: show a progress bar.

    Returns:
        The path of ``index.json`` once the cache is complete: under ``accelerate`` every process gets
        it after the main process has merged the index; a process run on its own (``process_index``
        given) merges the index itself when it finds every shard present, and otherwise returns
        ``None`` (other processes' shards are still missing; :func:`merge_cache_index` merges later).

    Raises:
        CacheFingerprintError: ``out_dir`` holds a cache of another encoder, dataset size or shard size.
        ValueError: two samples share an id (at the merge), or the encoder's outputs are malformed.
    """
    if not callable(encoder):
        raise TypeError(
            f"encoder: expected a callable batch -> tensor or dict of tensors, got {type(encoder).__name__}"
        )
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise TypeError(f"dataset: expected a map-style dataset (len and indexing), got {type(dataset).__name__}")
    if not isinstance(feature, str) or not feature or "/" in feature:
        raise ValueError(f"feature: expected a non-empty name without '/', got {feature!r}")
    batch_size = check_int(batch_size, "batch_size")
    shard_size = check_int(shard_size, "shard_size")
    num_workers = check_int(num_workers, "num_workers", minimum=0)
    check_bool(progress, "progress")
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise ValueError(f"dtype: expected one of {sorted(_DTYPES)}, got {dtype!r}")
        dtype = _DTYPES[dtype]
    elif dtype is not None and not isinstance(dtype, torch.dtype):
        raise TypeError(f"dtype: expected None, a torch.dtype or a name such as 'float16', got {dtype!r}")
    if fingerprint is None:
        fingerprint = encoder_fingerprint(encoder)
    elif not isinstance(fingerprint, str) or not fingerprint:
        raise TypeError(f"fingerprint: expected a non-empty string, got {fingerprint!r}")
    if collate_fn is None:
        from ..data.datasets import collate_clips

        collate_fn = collate_clips
    index, count, state = _distributed_state(process_index, num_processes)
    num_samples = len(dataset)
    if num_samples < 1:
        raise ValueError("dataset: it is empty, there is nothing to cache")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = {
        "format": CACHE_FORMAT,
        "fingerprint": fingerprint,
        "num_samples": num_samples,
        "shard_size": shard_size,
        "num_shards": math.ceil(num_samples / shard_size),
    }
    _check_or_write_plan(out, plan)

    from safetensors.torch import save_file

    mine = [k for k in range(plan["num_shards"]) if k % count == index]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(mine), desc=f"caching (process {index}/{count})", unit="shard")
    for shard in mine:
        path = out / shard_name(shard, plan["num_shards"])
        if not _shard_is_done(path, plan, shard):
            indices = _shard_indices(plan, shard)
            tensors, header = _encode_shard(
                encoder, dataset, indices, feature, batch_size, dtype, metadata, collate_fn, num_workers
            )
            header.update(fingerprint=fingerprint, shard=shard, indices=indices)
            write_atomic(
                path,
                lambda tmp, tensors=tensors, header=header: save_file(
                    tensors, tmp, metadata={"foresight_cache": json.dumps(header)}
                ),
            )
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    if state is not None:
        state.wait_for_everyone()
        result = merge_cache_index(out) if state.is_main_process else None
        state.wait_for_everyone()
        return out / INDEX_FILE if result is not None or (out / INDEX_FILE).is_file() else None
    if all((out / shard_name(k, plan["num_shards"])).is_file() for k in range(plan["num_shards"])):
        return merge_cache_index(out)
    return None


def _check_or_write_plan(out: Path, plan: dict[str, Any]) -> None:
    path = out / PLAN_FILE
    if path.is_file():
        existing = json.loads(path.read_text())
        different = {k: (existing.get(k), v) for k, v in plan.items() if existing.get(k) != v}
        if different:
            detail = ", ".join(f"{k}: cache has {old!r}, this run {new!r}" for k, (old, new) in different.items())
            raise CacheFingerprintError(
                f"out_dir: {os.fspath(out)!r} holds a cache of another encoder or dataset ({detail}); "
                "use a new folder or delete this one"
            )
        return
    _write_json(path, plan)


@torch.no_grad()
def _encode_shard(
    encoder: Callable[..., Any],
    dataset: Dataset,
    indices: list[int],
    feature: str,
    batch_size: int,
    dtype: torch.dtype | None,
    metadata_keys: Sequence[str] | None,
    collate_fn: Callable[[list[Any]], Any],
    num_workers: int,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Encode the samples ``indices``; returns the tensors ``"<name>/<row>"`` and the shard header."""
    tensors: dict[str, torch.Tensor] = {}
    ids: list[str] = []
    metadata: list[dict[str, Any]] = []
    shapes: list[dict[str, list[int]]] = []
    dtypes: dict[str, str] = {}

    def collate(items: list[Any]) -> tuple[Any, list[str], list[dict[str, Any]]]:
        for item in items:
            if not isinstance(item, Mapping):
                raise TypeError(f"dataset: items must be dicts, got {type(item).__name__}")
        return collate_fn(items), [item.get("id") for item in items], [_item_metadata(i, metadata_keys) for i in items]

    loader = DataLoader(Subset(dataset, indices), batch_size=batch_size, collate_fn=collate, num_workers=num_workers)
    row = 0
    for batch, batch_ids, batch_metadata in loader:
        outputs = _split_outputs(encoder(batch), feature, len(batch_ids))
        for j, (item_id, item_metadata) in enumerate(zip(batch_ids, batch_metadata)):
            ids.append(str(indices[row]) if item_id is None else str(item_id))
            metadata.append(item_metadata)
            sample_shapes = {}
            for name, value in outputs.items():
                tensor = value[j].detach().to("cpu")
                if dtype is not None and tensor.is_floating_point():
                    tensor = tensor.to(dtype)
                tensors[f"{name}/{row}"] = tensor.contiguous()
                sample_shapes[name] = list(tensor.shape)
                dtypes[name] = str(tensor.dtype).removeprefix("torch.")
            shapes.append(sample_shapes)
            row += 1
    return tensors, {"ids": ids, "metadata": metadata, "shapes": shapes, "dtypes": dtypes}


def merge_cache_index(out_dir: str | os.PathLike) -> Path:
    """Merge the shard headers of a cache folder into its ``index.json`` (atomically) and return its path.

    Raises:
        IncompleteCacheError: a shard of the plan is missing (naming the first ones).
        ValueError: two samples share an id, or a shard belongs to another plan.
    """
    out = Path(out_dir)
    plan_path = out / PLAN_FILE
    if not plan_path.is_file():
        raise FileNotFoundError(f"out_dir: {os.fspath(out)!r} has no {PLAN_FILE}; it is not a feature cache")
    plan = json.loads(plan_path.read_text())
    names = [shard_name(k, plan["num_shards"]) for k in range(plan["num_shards"])]
    missing = [name for name in names if not (out / name).is_file()]
    if missing:
        raise IncompleteCacheError(
            f"cannot merge the index of {os.fspath(out)!r}: {len(missing)} of {len(names)} shards are missing "
            f"(e.g. {missing[:3]}); run the remaining processes (or rerun cache_features, which resumes)"
        )
    samples: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    dtypes: dict[str, str] = {}
    for shard, name in enumerate(names):
        header = _shard_header(out / name)
        if header.get("fingerprint") != plan["fingerprint"] or header.get("indices") != _shard_indices(plan, shard):
            raise ValueError(f"{name} in {os.fspath(out)!r} does not belong to this cache's plan; delete it and rerun")
        dtypes.update(header["dtypes"])
        for row, (sample_id, shapes, meta) in enumerate(zip(header["ids"], header["shapes"], header["metadata"])):
            if sample_id in seen:
                raise ValueError(
                    f"dataset: id {sample_id!r} appears at indices {seen[sample_id]} and {header['indices'][row]}; "
                    "cached samples need unique ids"
                )
            seen[sample_id] = header["indices"][row]
            samples.append({"id": sample_id, "shard": shard, "row": row, "shapes": shapes, "metadata": meta})
    index = {
        "format": CACHE_FORMAT,
        "fingerprint": plan["fingerprint"],
        "num_samples": plan["num_samples"],
        "shard_size": plan["shard_size"],
        "shards": names,
        "features": {name: {"dtype": dtype} for name, dtype in sorted(dtypes.items())},
        "samples": samples,
    }
    path = out / INDEX_FILE
    _write_json(path, index)
    return path


class CachedFeatures(Dataset):
    """A ``Dataset`` over a folder written by :func:`cache_features`.

    Items are dicts: ``"id"`` (str), one tensor per cached feature (``"tokens" (t, n, d)``,
    ``"latents" (c, f, h, w)``, ``"prompt_embeds" (l, d)`` ...) and the stored metadata (``"label"`` ...).
    Tensors are read lazily, one item at a time, from memory-mapped safetensors shards.

    Args:
        out_dir: the cache folder (with its ``index.json``).
        expected_fingerprint: refuse the cache unless it was written with this fingerprint.
        encoder: or the encoder the features must come from (its :func:`encoder_fingerprint` is expected).
        features: the feature names to read (default: all).

    Raises:
        FileNotFoundError: no ``index.json`` (the cache is unfinished: rerun ``cache_features``).
        CacheFingerprintError: the cache was written by another encoder.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        *,
        expected_fingerprint: str | None = None,
        encoder: Any = None,
        features: Sequence[str] | None = None,
    ):
        self.root = Path(out_dir)
        path = self.root / INDEX_FILE
        if not path.is_file():
            hint = (
                " (its shards are unfinished: rerun cache_features to complete it)"
                if (self.root / PLAN_FILE).is_file()
                else ""
            )
            raise FileNotFoundError(f"out_dir: no {INDEX_FILE} in {os.fspath(self.root)!r}{hint}")
        self.index = json.loads(path.read_text())
        if self.index.get("format") != CACHE_FORMAT:
            raise ValueError(f"{path} has format {self.index.get('format')!r}, expected {CACHE_FORMAT!r}")
        if expected_fingerprint is not None and encoder is not None:
            raise ValueError("pass expected_fingerprint or encoder, not both")
        if encoder is not None:
            expected_fingerprint = encoder_fingerprint(encoder)
        if expected_fingerprint is not None and expected_fingerprint != self.fingerprint:
            raise CacheFingerprintError(
                f"the cache in {os.fspath(self.root)!r} was written by an encoder with fingerprint "
                f"{self.fingerprint[:16]}..., not the expected {expected_fingerprint[:16]}... (another model, config "
                "or settings); rebuild it with cache_features / `foresight cache` for this encoder"
            )
        available = list(self.index["features"])
        if features is None:
            features = available
        unknown = [f for f in features if f not in available]
        if isinstance(features, str) or unknown:
            raise ValueError(f"features: expected names among {available}, got {features!r}")
        self.features = list(features)
        self._handles: dict[int, Any] = {}

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the encoder that wrote the cache."""
        return self.index["fingerprint"]

    @property
    def ids(self) -> list[str]:
        """Sample ids in dataset order."""
        return [sample["id"] for sample in self.index["samples"]]

    def __len__(self) -> int:
        return len(self.index["samples"])

    def _handle(self, shard: int) -> Any:
        handle = self._handles.get(shard)
        if handle is None:
            from safetensors import safe_open

            handle = safe_open(os.fspath(self.root / self.index["shards"][shard]), framework="pt")
            self._handles[shard] = handle
        return handle

    def __getitem__(self, index: int) -> dict[str, Any]:
        check_int(index, "index", minimum=None)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: {index} is out of range for {len(self)} cached samples")
        sample = self.index["samples"][int(index)]
        handle = self._handle(sample["shard"])
        item: dict[str, Any] = {"id": sample["id"]}
        for name in self.features:
            item[name] = handle.get_tensor(f"{name}/{sample['row']}")
        item.update(sample["metadata"])
        return item

    def __getstate__(self) -> dict[str, Any]:  # open shard handles do not travel to DataLoader workers
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state
