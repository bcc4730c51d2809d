"""The torch Dataset over a manifest's records (``imagegen.offline.data``): preprocessed street photos and their stock
images as tensors, for training and evaluation.

``PairDataset`` returns the street photo PREPROCESSED exactly as at inference time
(``imagegen.preprocess.get_preprocessor(size)(load_image(photo), garment).image``), so the generator is trained on the
distribution it will see in production; and the stock image padded to a square on white and resized. Both are
``float32 [3, H, W]`` in ``[-1, 1]`` (docs/CONTRACTS.md). mediapipe is loaded only when a photo is actually
preprocessed (``get_preprocessor``'s first use), never for a photo found in the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from imagegen.images import load_image
from imagegen.offline.data import PairRecord, file_digest, load_stock, pil_to_uint8, relative_path
from imagegen.preprocess import get_preprocessor
from imagegen.tensors import uint8_to_tensor

__all__ = ["CACHE_VERSION", "PairDataset", "Preprocess"]

# Bump when the cached arrays' meaning changes (squaring, resizing, preprocessing contract), so stale caches are ignored.
CACHE_VERSION = 1


Preprocess = Callable[..., Any]  # (PIL image, garment) -> object with .image (PIL) and .method (str)


class PairDataset(Dataset):
    """Torch Dataset over manifest records: ``dict(photo, stock, item_index, item_id, garment)``.

    ``garment`` is the record's type name ("top", "bottom", "whole"): the crop the photo was preprocessed for, and the
    FiLM class of a garment-conditioned model (``imagegen.networks.GANConfig.garments``). A name, not an index, so
    the embedding-row order stays the model's own business; the default collate turns a batch of them into a list.

    Preprocessing (mediapipe segmentation + pose) costs ~30 ms a photo, far more than a training step needs per image,
    so it is done ONCE by :meth:`prepare` and kept as uint8 arrays (12 KB a 64 px photo). With ``cache_dir`` the arrays
    also go to disk, one ``.npz`` per (photo content hash, image size, garment, preprocessor), so a second run, another
    worker or a retrain on an extended manifest only preprocesses new photos. Items not prepared yet are preprocessed
    lazily on first access.

    ``preprocessor``: ``None`` uses ``imagegen.preprocess.get_preprocessor(image_size)``; any callable
    ``(PIL, garment) -> result with .image and .method`` works (tests use a cheap stub). Its disk-cache identity is its
    ``cache_tag`` attribute if it has one, else its qualified type name.
    """

    def __init__(
        self,
        records: Sequence[PairRecord],
        image_size: int,
        preprocessor: Preprocess | None = None,
        cache_dir: str | os.PathLike | None = None,
    ):
        if not records:
            raise ValueError("PairDataset needs at least one record")
        if int(image_size) < 8:
            raise ValueError(f"image_size must be at least 8, got {image_size}")
        self.records: list[PairRecord] = list(records)
        self.image_size = int(image_size)
        self._preprocessor = preprocessor
        self._tag = self._cache_tag(preprocessor)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.item_ids: list[str] = sorted({r.item_id for r in self.records})
        self._item_index = {item: i for i, item in enumerate(self.item_ids)}
        self._photos: list[np.ndarray | None] = [None] * len(self.records)
        self._methods: list[str | None] = [None] * len(self.records)
        self._stocks: dict[Path, np.ndarray] = {}
        self.cache_hits = 0

    # -- identity ---------------------------------------------------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """Short hash of the records (paths relative to their common folder, ids, garments, splits) and image size.

        Stored in checkpoints to say which data a model was trained on. Paths are taken relative to the records'
        common folder so moving the whole dataset does not change it; record order does not matter either.
        """
        paths = [str(p) for r in self.records for p in (r.photo, r.stock)]
        try:
            root = Path(os.path.commonpath(paths)) if paths else Path("/")
        except ValueError:  # mixed absolute/relative or different drives
            root = Path("/")
        if root in {Path(p) for p in paths}:  # a single file: use its folder
            root = root.parent
        rows = sorted(
            json.dumps([relative_path(r.photo, root), relative_path(r.stock, root), r.item_id, r.garment, r.split])
            for r in self.records
        )
        h = hashlib.sha256(f"size={self.image_size}\n".encode())
        for row in rows:
            h.update(row.encode() + b"\n")
        return h.hexdigest()[:16]

    @property
    def preprocess_stats(self) -> dict[str, int]:
        """How many prepared photos each preprocessing method handled (e.g. ``{"keypoints": 90, "centre": 3}``).

        A high ``centre`` count means the preprocessor found no person: worth a look before training on the set.
        """
        return dict(sorted(Counter(m for m in self._methods if m is not None).items()))

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    def item_index(self, item_id: str) -> int:
        return self._item_index[item_id]

    # -- preprocessing ----------------------------------------------------------------------------------------------

    def _get_preprocessor(self) -> Preprocess:
        if self._preprocessor is None:
            self._preprocessor = get_preprocessor(self.image_size)
        return self._preprocessor

    @staticmethod
    def _cache_tag(prep: Preprocess | None) -> str:
        if prep is None:  # the default: identify it without loading mediapipe
            return "imagegen.preprocess.get_preprocessor"
        tag = getattr(prep, "cache_tag", None)
        return str(tag) if tag else f"{type(prep).__module__}.{type(prep).__qualname__}"

    def _cache_path(self, digest: str, garment: str) -> Path | None:
        if self.cache_dir is None:
            return None
        key = hashlib.sha1(
            f"v{CACHE_VERSION}|{digest}|{self.image_size}|{garment}|{self._tag}".encode()
        ).hexdigest()
        return self.cache_dir / key[:2] / f"{key}.npz"

    def _load_cached(self, path: Path | None) -> tuple[np.ndarray, str] | None:
        if path is None or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                image, method = z["image"], str(z["method"])
        except Exception:  # a truncated or foreign file: recompute (and overwrite) rather than fail the run
            return None
        if image.shape != (self.image_size, self.image_size, 3) or image.dtype != np.uint8:
            return None
        return image, method

    @staticmethod
    def _save_cached(path: Path, image: np.ndarray, method: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, image=image, method=np.array(method))
        os.replace(tmp, path)  # atomic: concurrent workers never read half a file

    def _prepare_one(self, index: int) -> None:
        record = self.records[index]
        cache_path = None
        if self.cache_dir is not None:
            cache_path = self._cache_path(file_digest(record.photo), record.garment)
            cached = self._load_cached(cache_path)
            if cached is not None:
                self._photos[index], self._methods[index] = cached
                self.cache_hits += 1
                return
        try:
            result = self._get_preprocessor()(load_image(record.photo), record.garment)
        except Exception as e:
            raise ValueError(f"cannot preprocess photo {record.photo}: {e}") from e
        image = pil_to_uint8(result.image, self.image_size)
        method = str(getattr(result, "method", "unknown"))
        self._photos[index], self._methods[index] = image, method
        if cache_path is not None:
            self._save_cached(cache_path, image, method)

    def _stock_array(self, path: Path) -> np.ndarray:
        array = self._stocks.get(path)
        if array is None:
            array = pil_to_uint8(load_stock(path, self.image_size))
            self._stocks[path] = array
        return array

    def prepare(self, progress: bool = True) -> "PairDataset":
        """Preprocess every photo not prepared yet (and load every stock image). Returns ``self`` for chaining."""
        todo = [i for i, p in enumerate(self._photos) if p is None]
        if todo:
            for i in tqdm(todo, desc="preprocessing photos", unit="photo", disable=not progress):
                self._prepare_one(i)
        for record in self.records:
            self._stock_array(record.stock)
        return self

    @property
    def prepared(self) -> bool:
        return all(p is not None for p in self._photos)

    # -- Dataset protocol -------------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += len(self.records)
        if not 0 <= index < len(self.records):
            raise IndexError(index)
        if self._photos[index] is None:
            self._prepare_one(index)
        record = self.records[index]
        return {
            "photo": uint8_to_tensor(self._photos[index]),
            "stock": uint8_to_tensor(self._stock_array(record.stock)),
            "item_index": self._item_index[record.item_id],
            "item_id": record.item_id,
            "garment": record.garment,
        }

    def photo_array(self, index: int) -> np.ndarray:
        """The preprocessed photo as uint8 [H, W, 3] (preprocessing it now if needed)."""
        if self._photos[index] is None:
            self._prepare_one(index)
        return self._photos[index]  # type: ignore[return-value]
