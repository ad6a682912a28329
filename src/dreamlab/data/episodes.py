"""Episodes in memory and on disk.

An ``Episode`` is a set of numpy arrays in the time indexing of ``dreamlab.types``: row t holds o_t,
the action a_{t-1} that led to it (zeros at t = 0), the reward r_t received on arriving, and the
is_first / is_last / is_terminal flags. ``EpisodeBuilder`` assembles one from a gymnasium loop and
``EpisodeStore`` keeps many in a folder of compressed chunk files::

    root/
      metadata.json        format, version, env, spaces, field schema, counts, chunk list
      chunk_000000.npz     several episodes concatenated along time, with their lengths
      chunk_000001.npz

Every file is written atomically (temporary file in the same folder, fsync, rename) and
metadata.json only lists chunks that were completely written, so a store killed mid-write is
readable up to its last complete chunk.
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from dreamlab.errors import DreamlabError
from dreamlab.train.files import atomic_write_bytes, atomic_write_text

__all__ = ["FORMAT", "FORMAT_VERSION", "Episode", "EpisodeBuilder", "EpisodeStore"]

FORMAT = "dreamlab-episodes"
"""The ``format`` name written into every store's metadata.json."""

FORMAT_VERSION = 1
"""The newest store layout this version of dreamlab reads and writes."""

_METADATA = "metadata.json"
_CORE_FIELDS = ("obs", "action", "reward", "is_first", "is_last", "is_terminal")
_EXTRA_PREFIX = "extras."


def _coerce_action(action: np.ndarray) -> np.ndarray:
    # One dtype per kind of action space keeps stores and batches uniform.
    if np.issubdtype(action.dtype, np.integer):
        return action.astype(np.int64, copy=False)
    if np.issubdtype(action.dtype, np.floating):
        return action.astype(np.float32, copy=False)
    return action


@dataclass(frozen=True, eq=False)
class Episode:
    """One episode as numpy arrays of leading length T (see the time indexing in ``dreamlab.types``).

    ``obs`` [T, ...] (uint8 for images, any dtype otherwise); ``action`` [T] int64 (discrete) or
    [T, A] float32 (continuous), row 0 zeros; ``reward`` [T] float32; ``is_first``, ``is_last``,
    ``is_terminal`` [T] bool; ``extras`` maps names to [T, ...] arrays (true positions for
    evaluation, say). Integer actions are stored as int64, float actions as float32.
    """

    obs: np.ndarray  # [T, ...]
    action: np.ndarray  # [T] or [T, A]
    reward: np.ndarray  # [T]
    is_first: np.ndarray  # [T] bool
    is_last: np.ndarray  # [T] bool
    is_terminal: np.ndarray  # [T] bool
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # each [T, ...]

    def __post_init__(self) -> None:
        # Frozen, so normalise dtypes through object.__setattr__ once, here.
        obs = np.asarray(self.obs)
        if obs.dtype == object:
            raise DreamlabError(
                "Episode.obs must be a numeric array, got objects (dict observations?)"
            )
        if obs.ndim == 0:
            raise DreamlabError("Episode.obs needs a leading time dimension, got a scalar")
        object.__setattr__(self, "obs", obs)
        object.__setattr__(self, "action", _coerce_action(np.asarray(self.action)))
        object.__setattr__(self, "reward", np.asarray(self.reward, dtype=np.float32))
        for name in ("is_first", "is_last", "is_terminal"):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=bool))
        object.__setattr__(self, "extras", {k: np.asarray(v) for k, v in self.extras.items()})

        t = obs.shape[0]
        if t < 1:
            raise DreamlabError("Episode needs at least one step (o_0), got an empty obs array")
        for name, array in self.arrays().items():
            if array.ndim == 0 or array.shape[0] != t:
                raise DreamlabError(
                    f"Episode.{name} has shape {array.shape}, expected leading length T = {t} (the length of obs)"
                )
        for name in ("reward", "is_first", "is_last", "is_terminal"):
            if getattr(self, name).ndim != 1:
                raise DreamlabError(
                    f"Episode.{name} must be [T], got shape {getattr(self, name).shape}"
                )
        if not self.is_first[0]:
            raise DreamlabError(
                "Episode.is_first[0] must be set: an episode starts at its first step"
            )

    def __len__(self) -> int:
        """T, the number of stored steps (observations o_0 .. o_{T-1})."""
        return int(self.obs.shape[0])

    @property
    def steps(self) -> int:
        """The number of transitions (environment steps), T - 1."""
        return len(self) - 1

    @property
    def ret(self) -> float:
        """The undiscounted return, the sum of all rewards."""
        return float(self.reward.sum(dtype=np.float64))

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array by name: the six core fields, then ``extras.<name>``."""
        out = {name: getattr(self, name) for name in _CORE_FIELDS}
        out.update({_EXTRA_PREFIX + k: v for k, v in self.extras.items()})
        return out

    @staticmethod
    def from_arrays(arrays: dict[str, np.ndarray]) -> Episode:
        """The inverse of ``arrays``: build an episode from a name -> array mapping."""
        missing = [name for name in _CORE_FIELDS if name not in arrays]
        if missing:
            raise DreamlabError(f"episode arrays lack {', '.join(missing)}")
        extras = {
            k[len(_EXTRA_PREFIX) :]: v for k, v in arrays.items() if k.startswith(_EXTRA_PREFIX)
        }
        return Episode(**{name: arrays[name] for name in _CORE_FIELDS}, extras=extras)


def _zero_action_for(space: Any) -> np.ndarray | None:
    # Discrete spaces have no shape; Box and MultiDiscrete spaces do.
    if space is None:
        return None
    shape = tuple(getattr(space, "shape", None) or ())
    dtype = np.dtype(getattr(space, "dtype", None) or np.int64)
    return _coerce_action(np.zeros(shape, dtype=dtype))


def _as_obs(obs: Any) -> np.ndarray:
    array = np.asarray(obs)
    # Discrete observation spaces return Python ints; store them as int64 whatever the platform.
    if array.ndim == 0 and np.issubdtype(array.dtype, np.integer):
        array = array.astype(np.int64)
    return array


class EpisodeBuilder:
    """Build an ``Episode`` step by step from a gymnasium loop.

    >>> builder = EpisodeBuilder(env.action_space)          # doctest: +SKIP
    >>> obs, _ = env.reset(seed=0); builder.start(obs)      # doctest: +SKIP
    >>> obs, r, term, trunc, _ = env.step(a); builder.add(a, obs, r, term, trunc)  # doctest: +SKIP
    >>> episode = builder.finish()                          # doctest: +SKIP

    The action space, if given, fixes the zero action of row 0 even when no step was taken.
    """

    def __init__(self, action_space: Any = None) -> None:
        self._zero_action = _zero_action_for(action_space)
        self._rows: list[dict[str, Any]] = []
        self._ended = False

    def __len__(self) -> int:
        """The number of rows so far (observations recorded, o_0 included)."""
        return len(self._rows)

    @property
    def steps(self) -> int:
        """The number of transitions added so far."""
        return max(len(self._rows) - 1, 0)

    def start(self, obs: Any, extras: dict[str, Any] | None = None) -> None:
        """Begin a new episode at o_0 (what ``env.reset`` returned); discards any unfinished one."""
        self._rows = [
            {"obs": _as_obs(obs), "reward": 0.0, "terminated": False, "extras": extras or {}}
        ]
        self._ended = False

    def add(
        self,
        action: Any,
        obs: Any,
        reward: float,
        terminated: bool,
        truncated: bool,
        extras: dict[str, Any] | None = None,
    ) -> None:
        """Record one ``env.step(action)``: a_{t-1}, o_t, r_t and whether the episode ended there."""
        if not self._rows:
            raise DreamlabError("EpisodeBuilder.add called before start(obs)")
        if self._ended:
            raise DreamlabError("EpisodeBuilder.add called after the episode ended; call finish()")
        self._rows.append(
            {
                "action": _coerce_action(np.asarray(action)),
                "obs": _as_obs(obs),
                "reward": float(reward),
                "terminated": bool(terminated),
                "extras": extras or {},
            }
        )
        self._ended = bool(terminated) or bool(truncated)

    def finish(self) -> Episode:
        """The episode so far, with is_last at its last step (is_terminal only if it terminated).

        The builder is empty afterwards, ready for the next ``start``.
        """
        if not self._rows:
            raise DreamlabError("EpisodeBuilder.finish called before start(obs)")
        rows, self._rows = self._rows, []
        t = len(rows)
        zero = self._zero_action
        if zero is None:
            zero = np.zeros_like(rows[1]["action"]) if t > 1 else np.zeros((), dtype=np.int64)
        actions = [zero] + [row["action"] for row in rows[1:]]
        is_first = np.zeros(t, dtype=bool)
        is_first[0] = True
        is_last = np.zeros(t, dtype=bool)
        is_last[-1] = True
        is_terminal = np.zeros(t, dtype=bool)
        is_terminal[-1] = rows[-1]["terminated"]
        keys = rows[0]["extras"].keys()
        for i, row in enumerate(rows):
            if row["extras"].keys() != keys:
                raise DreamlabError(
                    f"step {i} has extras {sorted(row['extras'])}, the episode started with {sorted(keys)}"
                )
        return Episode(
            obs=np.stack([row["obs"] for row in rows]),
            action=np.stack(actions),
            reward=np.array([row["reward"] for row in rows], dtype=np.float32),
            is_first=is_first,
            is_last=is_last,
            is_terminal=is_terminal,
            extras={k: np.stack([np.asarray(row["extras"][k]) for row in rows]) for k in keys},
        )


def _schema(episode: Episode) -> dict[str, dict[str, Any]]:
    """dtype and per-step shape of every array: what all episodes of one store must share."""
    return {
        name: {"dtype": array.dtype.str, "shape": list(array.shape[1:])}
        for name, array in episode.arrays().items()
    }


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """The arrays as a compressed .npz file, in memory (the compressed chunk is the small copy)."""
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]  # numpy's stub types the kwargs as allow_pickle
    return out.getvalue()


def _read_metadata(root: Path) -> dict[str, Any]:
    path = root / _METADATA
    if not root.is_dir():
        raise DreamlabError(f"no episode store at {root}: the folder does not exist")
    if not path.is_file():
        raise DreamlabError(f"{root} is not a dreamlab episode store: it has no {_METADATA}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DreamlabError(
            f"{path} is not valid JSON ({type(e).__name__}); the store is corrupt"
        ) from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise DreamlabError(
            f"{root} is not a dreamlab episode store: {_METADATA} has format {found!r}"
        )
    version = meta.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise DreamlabError(
            f"{root} has store version {version!r}; this dreamlab reads versions up to {FORMAT_VERSION}"
        )
    for key, kind in (("chunks", list), ("episodes", int), ("steps", int)):
        if not isinstance(meta.get(key), kind):
            raise DreamlabError(f"{path} has no valid '{key}' entry; the store is corrupt")
    return meta


class EpisodeStore:
    """Episodes on disk: a folder of compressed chunk files plus metadata.json.

    Open an existing store with ``EpisodeStore(root)`` (new episodes are appended to it); make a
    new one with ``EpisodeStore.create(root, env_name, ...)``. ``add`` buffers episodes and writes a
    chunk whenever the buffer holds ``chunk_steps`` stored steps (rows), and on ``flush``, ``close``
    or leaving a ``with`` block. Reading (``iter``, ``episodes``, ``load``) sees written chunks
    and then the episodes still in the buffer, chunk by chunk, so memory stays bounded.

    All episodes of a store share one schema (dtype and per-step shape of every array); frames
    stay uint8 on disk. A folder that is not a store, or a corrupt chunk, raises ``DreamlabError``
    and nothing on disk is changed.
    """

    def __init__(self, root: str | Path, chunk_steps: int = 10_000) -> None:
        if chunk_steps < 1:
            raise DreamlabError(f"chunk_steps must be at least 1, got {chunk_steps}")
        self.root = Path(root)
        self.chunk_steps = chunk_steps
        self._meta = _read_metadata(self.root)
        for chunk in self._meta["chunks"]:
            self._check_chunk_entry(chunk)
        self._buffer: list[Episode] = []
        self._cache: tuple[int, list[Episode]] | None = None
        self._closed = False

    @classmethod
    def create(
        cls,
        root: str | Path,
        env_name: str,
        meta: dict[str, Any] | None = None,
        *,
        observation_space: Any = None,
        action_space: Any = None,
        chunk_steps: int = 10_000,
        exist_ok: bool = False,
    ) -> EpisodeStore:
        """Make a new, empty store in ``root`` (created if absent; an existing folder must be empty).

        ``env_name`` and the spaces (kept as their ``repr``) describe where the data came from;
        ``meta`` is any JSON-serialisable dict kept alongside. With ``exist_ok``, an existing store
        of the same env is opened instead.
        """
        root = Path(root)
        if (root / _METADATA).exists():
            if not exist_ok:
                raise DreamlabError(
                    f"{root} already holds an episode store; open it with EpisodeStore(root)"
                )
            store = cls(root, chunk_steps=chunk_steps)
            if store.env_name != env_name:
                raise DreamlabError(
                    f"the episode store at {root} holds env '{store.env_name}', not '{env_name}'"
                )
            return store
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise DreamlabError(
                f"cannot create an episode store at {root}: it exists and is not an empty folder"
            )

        def space_repr(space: Any) -> str | None:
            return None if space is None else space if isinstance(space, str) else repr(space)

        metadata = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "env": env_name,
            "observation_space": space_repr(observation_space),
            "action_space": space_repr(action_space),
            "meta": meta or {},
            "fields": None,
            "episodes": 0,
            "steps": 0,
            "chunks": [],
        }
        try:
            text = json.dumps(metadata, indent=2)
        except (TypeError, ValueError) as e:
            raise DreamlabError(f"episode store meta must be JSON-serialisable: {e}") from e
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(root / _METADATA, text)
        return cls(root, chunk_steps=chunk_steps)

    # --- description -------------------------------------------------------------------------

    @property
    def env_name(self) -> str:
        """The environment name given at creation."""
        return str(self._meta.get("env", ""))

    @property
    def observation_space(self) -> str | None:
        """The repr of the observation space given at creation, if any."""
        return self._meta.get("observation_space")

    @property
    def action_space(self) -> str | None:
        """The repr of the action space given at creation, if any."""
        return self._meta.get("action_space")

    @property
    def meta(self) -> dict[str, Any]:
        """The free-form metadata given at creation."""
        return dict(self._meta.get("meta") or {})

    @property
    def num_chunks(self) -> int:
        """The number of chunk files written so far."""
        return len(self._meta["chunks"])

    def __len__(self) -> int:
        """The number of episodes (written and buffered)."""
        return int(self._meta["episodes"]) + len(self._buffer)

    @property
    def num_steps(self) -> int:
        """The number of environment steps (transitions) over all episodes, written and buffered."""
        return int(self._meta["steps"]) + sum(ep.steps for ep in self._buffer)

    def __repr__(self) -> str:
        return f"EpisodeStore({str(self.root)!r}, env={self.env_name!r}, episodes={len(self)}, steps={self.num_steps})"

    # --- writing -----------------------------------------------------------------------------

    def add(self, episode: Episode) -> None:
        """Add an episode; a chunk file is written once the buffer holds ``chunk_steps`` rows."""
        if self._closed:
            raise DreamlabError(f"the episode store at {self.root} is closed")
        schema = _schema(episode)
        expected = self._meta.get("fields") or (_schema(self._buffer[0]) if self._buffer else None)
        if expected is not None and schema != expected:
            raise DreamlabError(
                f"episode does not match the store at {self.root}: {_schema_diff(expected, schema)}"
            )
        self._buffer.append(episode)
        if sum(len(ep) for ep in self._buffer) >= self.chunk_steps:
            self.flush()

    def flush(self) -> None:
        """Write the buffered episodes as one chunk file, then the updated metadata.json."""
        if not self._buffer:
            return
        episodes = self._buffer
        lengths = np.array([len(ep) for ep in episodes], dtype=np.int64)
        names = episodes[0].arrays().keys()
        arrays = {name: np.concatenate([ep.arrays()[name] for ep in episodes]) for name in names}
        arrays["lengths"] = lengths
        # Chunk names continue from the last listed chunk; a file left by an interrupted write
        # is not listed and is simply replaced.
        name = f"chunk_{self._next_chunk_index():06d}.npz"
        path = self.root / name
        atomic_write_bytes(path, _npz_bytes(arrays))

        meta = dict(self._meta)
        meta["fields"] = meta.get("fields") or _schema(episodes[0])
        meta["chunks"] = [
            *meta["chunks"],
            {"file": name, "lengths": lengths.tolist(), "bytes": path.stat().st_size},
        ]
        meta["episodes"] = int(meta["episodes"]) + len(episodes)
        meta["steps"] = int(meta["steps"]) + int(lengths.sum()) - len(episodes)
        text = json.dumps(meta, indent=2)
        atomic_write_text(self.root / _METADATA, text)
        self._meta = meta
        self._buffer = []

    def close(self) -> None:
        """Flush and stop accepting episodes (reading still works)."""
        if not self._closed:
            self.flush()
            self._closed = True

    def __enter__(self) -> EpisodeStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Completed episodes are worth keeping even when the loop that made them failed.
        self.close()

    def _next_chunk_index(self) -> int:
        chunks = self._meta["chunks"]
        if not chunks:
            return 0
        last = str(chunks[-1]["file"])
        return int(last.removeprefix("chunk_").removesuffix(".npz")) + 1

    # --- reading -----------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Episode]:
        """Yield every episode in the order added (see ``episodes``)."""
        return self.episodes()

    def episodes(self) -> Iterator[Episode]:
        """Yield every episode in the order added, one chunk in memory at a time."""
        for i in range(self.num_chunks):
            yield from self._load_chunk(i)
        yield from list(self._buffer)

    def load(self, i: int) -> Episode:
        """Episode ``i`` (0-based, in the order added; negative indices count from the end)."""
        n = len(self)
        if not -n <= i < n:
            raise DreamlabError(f"episode index {i} is out of range for a store of {n} episodes")
        i %= n
        for c, chunk in enumerate(self._meta["chunks"]):
            if i < len(chunk["lengths"]):
                if self._cache is None or self._cache[0] != c:
                    self._cache = (c, self._load_chunk(c))
                return self._cache[1][i]
            i -= len(chunk["lengths"])
        return self._buffer[i]

    def _check_chunk_entry(self, chunk: Any) -> None:
        if not isinstance(chunk, dict) or not isinstance(chunk.get("file"), str):
            raise DreamlabError(
                f"{self.root / _METADATA} has a malformed chunk entry; the store is corrupt"
            )
        path = self.root / chunk["file"]
        if path.parent != self.root or not path.name.startswith("chunk_"):
            raise DreamlabError(
                f"{self.root / _METADATA} names an unexpected chunk file {chunk['file']!r}"
            )
        if not path.is_file():
            raise DreamlabError(
                f"episode store {self.root} is missing its chunk file {chunk['file']}"
            )
        size = path.stat().st_size
        if "bytes" in chunk and size != chunk["bytes"]:
            raise DreamlabError(
                f"corrupt chunk {path}: {size} bytes on disk, {chunk['bytes']} when written (truncated?)"
            )

    def _load_chunk(self, c: int) -> list[Episode]:
        chunk = self._meta["chunks"][c]
        self._check_chunk_entry(chunk)
        path = self.root / chunk["file"]
        fields: dict[str, Any] = self._meta.get("fields") or {}
        try:
            with np.load(path, allow_pickle=False) as npz:
                # Decompress everything now, so a damaged member fails here and not later.
                arrays = {name: npz[name] for name in npz.files}
        except Exception as e:  # numpy/zipfile raise many kinds of errors for a damaged file
            raise DreamlabError(
                f"corrupt chunk {path}: {type(e).__name__}: {e}".splitlines()[0]
            ) from e

        lengths = arrays.pop("lengths", None)
        if lengths is None or lengths.tolist() != list(chunk["lengths"]):
            raise DreamlabError(
                f"corrupt chunk {path}: its episode lengths disagree with {_METADATA}"
            )
        if set(arrays) != set(fields):
            raise DreamlabError(
                f"corrupt chunk {path}: it holds {sorted(arrays)}, expected {sorted(fields)}"
            )
        total = int(lengths.sum())
        for name, array in arrays.items():
            spec = fields[name]
            if array.dtype.str != spec["dtype"] or list(array.shape) != [total, *spec["shape"]]:
                raise DreamlabError(
                    f"corrupt chunk {path}: '{name}' is {array.dtype.str} {list(array.shape)}, expected "
                    f"{spec['dtype']} {[total, *spec['shape']]}"
                )
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        return [
            Episode.from_arrays({name: array[a:b] for name, array in arrays.items()})
            for a, b in itertools.pairwise(bounds.tolist())
        ]


def _schema_diff(expected: dict[str, Any], got: dict[str, Any]) -> str:
    """A one-line description of how two schemas differ."""
    if set(expected) != set(got):
        return f"it has arrays {sorted(got)}, the store has {sorted(expected)}"
    for name in expected:
        if expected[name] != got[name]:
            e, g = expected[name], got[name]
            return f"'{name}' is {g['dtype']} {g['shape']} per step, the store has {e['dtype']} {e['shape']}"
    return "schemas differ"
