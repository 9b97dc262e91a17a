"""File formats: the RL JSON, the legacy beam JSON and embedding files, validated on load.

RL JSON::

    {"_meta": {...generation settings...},
     "<query id>": {"candidate_pool": [item ids, the query excluded],
                    "pointer_candidates": [{"pointer": [item id, ...], "gen_method": "beam", "beam_score": ...,
                                            "logprob_score": ..., "vqa_pred_answer": "...", "vqa_correct": 0 | 1,
                                            "vqa_acc_score": 0.0-1.0, "vqa_eval_mode": "file" | "fallback"}, ...]}}

Pointers hold item ids (rows of the embedding matrix); every pointer id must be in its query's pool,
so the same pool serves training and inference. Errors name the query and the key that is wrong.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator, model_validator

GenMethod = Literal["beam", "sample", "random", "retrieval"]
EvalMode = Literal["file", "fallback"]


class DataError(ValueError):
    """A data file that cannot be used; the message names the file, the query and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PointerCandidate(_Strict):
    # StrictInt: an item id is an integer; JSON `true` or `1.0` is refused, not read as item 1
    pointer: list[StrictInt] = Field(min_length=1)
    gen_method: GenMethod
    beam_rank: StrictInt | None = None
    beam_score: float | None = None
    logprob_score: float | None = None
    temperature: float | None = None
    info_score: float | None = None  # InfoScore of the sequence (legacy beam file / simulated proxy); `hybrid` needs it
    vqa_pred_answer: str = ""
    vqa_correct: Annotated[StrictInt, Field(ge=0, le=1)]
    vqa_acc_score: float = Field(ge=0.0, le=1.0)
    vqa_eval_mode: EvalMode

    @field_validator("pointer")
    @classmethod
    def _distinct(cls, pointer: list[int]) -> list[int]:
        if len(set(pointer)) != len(pointer):
            raise ValueError(f"pointer {pointer} repeats an item")
        return pointer


class QueryRecord(_Strict):
    candidate_pool: list[StrictInt] = Field(min_length=1)
    pointer_candidates: list[PointerCandidate]

    @model_validator(mode="after")
    def _pointers_in_pool(self) -> "QueryRecord":
        pool = set(self.candidate_pool)
        if len(pool) != len(self.candidate_pool):
            raise ValueError("candidate_pool repeats an item")
        for index, candidate in enumerate(self.pointer_candidates):
            outside = [item for item in candidate.pointer if item not in pool]
            if outside:
                raise ValueError(f"pointer_candidates[{index}].pointer: items {outside} are not in candidate_pool")
        return self


class RLData(_Strict):
    meta: dict[str, Any] = Field(default_factory=dict)
    queries: dict[int, QueryRecord]

    @property
    def shot_num(self) -> int:
        lengths = {len(c.pointer) for q in self.queries.values() for c in q.pointer_candidates}
        if len(lengths) != 1:
            raise DataError(f"pointers have mixed lengths {sorted(lengths)}; one shot_num per file")
        return lengths.pop()

    def to_json(self) -> dict:
        document: dict[str, Any] = {"_meta": self.meta}
        for query_id in sorted(self.queries):
            document[str(query_id)] = self.queries[query_id].model_dump(exclude_none=True)
        return document


def _describe(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_rl_data(document: Any, source: str = "<rl json>") -> RLData:
    if not isinstance(document, dict):
        raise DataError(f"{source}: the RL JSON must be an object keyed by query id")
    meta = document.get("_meta", {})
    if not isinstance(meta, dict):
        raise DataError(f"{source}: _meta must be an object")
    queries: dict[int, QueryRecord] = {}
    for key, value in document.items():
        if key == "_meta":
            continue
        try:
            query_id = int(key)
        except (TypeError, ValueError):
            raise DataError(f"{source}: query key {key!r} is not an integer item id") from None
        try:
            record = QueryRecord.model_validate(value)
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            where = _describe(error["loc"]) or "(record)"
            raise DataError(f"{source}: query {query_id}: {where}: {error['msg']}") from None
        if query_id in record.candidate_pool:
            raise DataError(f"{source}: query {query_id}: candidate_pool contains the query itself")
        queries[query_id] = record
    if not queries:
        raise DataError(f"{source}: no queries")
    return RLData(meta=meta, queries=queries)


MAX_JSON_BYTES = 4 * 1024 ** 3


def read_json(path: str | Path, expect: type | None = None) -> Any:
    """A JSON document from a regular file (never a FIFO or device), or `DataError` in one line naming
    the file: missing, a directory, not UTF-8, not JSON (with line and column), nested too deeply, or
    not of the `expect`ed type."""
    import stat

    path = Path(path)
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        mode = os.fstat(handle).st_mode
        if stat.S_ISDIR(mode):
            raise DataError(f"{path}: is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise DataError(f"{path}: not a regular file (a FIFO, socket or device is never read)")
        with os.fdopen(handle, "rb", closefd=False) as stream:
            data = stream.read(MAX_JSON_BYTES + 1)
    finally:
        os.close(handle)
    if len(data) > MAX_JSON_BYTES:
        raise DataError(f"{path}: larger than {MAX_JSON_BYTES // 1024 ** 3} GB")
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply") from None
    if expect is not None and not isinstance(document, expect):
        raise DataError(f"{path}: expected a JSON {'object' if expect is dict else 'array'}, "
                        f"found {type(document).__name__}")
    return document


def load_rl_data(path: str | Path) -> RLData:
    return parse_rl_data(read_json(path, dict), str(path))


def atomic_write(path: str | Path, write, binary: bool = False) -> None:
    """`write(stream)` into a temporary file in the same directory, fsync, then rename: readers (and a
    resumed run) never see half a file, whatever kills the process."""
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    if path.exists() and not path.is_file():
        if path.is_dir():
            raise IsADirectoryError(21, "Is a directory", str(path))
        # a device or FIFO (`--output /dev/stdout`): write into it; a rename would replace the device
        with open(path, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as stream:
            write(stream)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, _mode_for(path))  # mkstemp's 0600 would hide outputs from the rest of the team
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """The existing file's permission bits, else what `open()` would give (0666 less the umask)."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_json_atomic(path: str | Path, document: Any) -> None:
    atomic_write(path, lambda stream: json.dump(document, stream, ensure_ascii=False))


class VQAItem(_Strict):
    """One question of a VQA data set (for the `hf` backend): its image file, question, annotator answers
    (ten, when the official metric applies) and a reference answer (the fallback's, and the demonstrations')."""

    id: int
    image: str
    question: str
    answer: str
    annotations: list[str] | None = None


class VQADataset:
    """Items by id, with the interface the RL generator and the evaluation use (like the simulated world)."""

    def __init__(self, items: list[VQAItem], root: Path) -> None:
        self.items = {item.id: item for item in items}
        self.root = root

    def example(self, item_id: int, with_answer: bool = True):
        from leverplus.backends import Example

        item = self.items[item_id]
        return Example(item_id=item_id, image=str(self.root / item.image), question=item.question,
                       answer=item.answer if with_answer else None)


def load_vqa_items(path: str | Path) -> VQADataset:
    path = Path(path)
    document = read_json(path, list)
    items = []
    for index, entry in enumerate(document):
        try:
            items.append(VQAItem.model_validate(entry))
        except ValidationError as exc:
            error = exc.errors(include_url=False)[0]
            raise DataError(f"{path}: item [{index}] (id {entry.get('id') if isinstance(entry, dict) else '?'}): "
                            f"{_describe(error['loc'])}: {error['msg']}") from None
    return VQADataset(items, path.parent)


class LegacyBeamRecord(_Strict):
    """One query of the legacy InfoScore beam JSON: `id_list[b] = [icd_S, ..., icd_1, query]`."""

    model_config = ConfigDict(extra="ignore")
    id_list: list[list[int]] = Field(min_length=1)
    score_list: list[float]

    @model_validator(mode="after")
    def _consistent(self) -> "LegacyBeamRecord":
        if len(self.score_list) != len(self.id_list):
            raise ValueError(f"{len(self.id_list)} beams but {len(self.score_list)} scores")
        if len({len(beam) for beam in self.id_list}) != 1:
            raise ValueError("beams have different lengths")
        return self


def load_legacy_beams(path: str | Path) -> dict[int, LegacyBeamRecord]:
    path = Path(path)
    document = read_json(path, dict)
    records = {}
    for key, value in document.items():
        try:
            records[int(key)] = LegacyBeamRecord.model_validate(value)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ValidationError):
                error = exc.errors(include_url=False)[0]
                raise DataError(f"{path}: query {key}: {_describe(error['loc']) or '(record)'}: {error['msg']}") from None
            raise DataError(f"{path}: query key {key!r} is not an integer item id") from None
    return records


def load_embeddings(path: str | Path):
    """The item-embedding matrix `[num_items, dim]` (row i = item id i), float32."""
    import torch

    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise DataError(f"{path}: not a tensor file ({type(exc).__name__}: {exc})") from None
    tensor = payload.get("embeddings") if isinstance(payload, dict) else payload
    if not isinstance(tensor, torch.Tensor) or tensor.dim() != 2:
        raise DataError(f"{path}: expected a 2-D tensor [num_items, dim] (or {{'embeddings': tensor}})")
    if not tensor.is_floating_point():  # ids, masks or complex numbers are no embedding
        raise DataError(f"{path}: embeddings must be floating point, found {str(tensor.dtype).replace('torch.', '')}")
    if tensor.shape[0] == 0 or tensor.shape[1] == 0:
        raise DataError(f"{path}: embeddings are empty (shape {tuple(tensor.shape)})")
    if not torch.isfinite(tensor).all():
        raise DataError(f"{path}: embeddings contain NaN or inf")
    return tensor.float().contiguous()


def save_embeddings(path: str | Path, embeddings) -> None:
    import torch

    atomic_write(path, lambda stream: torch.save({"format": "leverplus.embeddings/1",
                                                 "embeddings": embeddings.float().cpu()}, stream), binary=True)
