"""Rendered pipelines stored under a key made of everything that can change them.

A render reads files the bot knows in advance and files it only learns about by rendering, so an entry is found in
two steps, as ccache finds a compiler's output:
1. The key covers what is known before the render: the content (git blob ids) of every file kpops reads for the
   pipeline and of custom component code, the kpops and kpops-bot versions, environment, mode, operation, the
   variables kpops may see and the chart mirrors.
2. Under the key, a list of read sets: what renders with this key read in their checkout (`engine/reads.py`:
   files opened, folders listed, local chart folders). The entry of a commit is the one whose read set has the
   same content at that commit, so a local chart or a data file a custom component opens are inputs too, and
   several variants (a pull request's base and head with different charts) live side by side.

Never stored: failures of the machine (timeout, crash), charts without a pinned version, renders that did
something whose reads the bot cannot see (a process other than helm, a chart outside the repository), renders
over `MAX_ENTRY_BYTES`. Entries are written only here, in the bot's process, from a `PipelineRender` the bot has
validated, and carry an HMAC under a key in the cache folder that only the bot's user can read: a file a render
process wrote or changed (with no sandbox, or a sandbox that failed) is ignored, never served.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import hmac
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, Field, ValidationError

from kpops_bot import metrics
from kpops_bot.model.render import ErrorKind, PipelineRender, RenderReads, RenderSpec
from kpops_bot.pipelines import Pipeline, RepoLayout

# Failures that depend on the machine, not on the inputs, are rendered again next time.
_TRANSIENT_ERRORS = frozenset({ErrorKind.TIMEOUT, ErrorKind.LIMIT, ErrorKind.CRASH})
MAX_ENTRY_BYTES = 32 * 1024 * 1024
MAX_VARIANTS = 16
_FACT_NAMES = 4  # facts kept per entry: a few Kubernetes versions checked against
_KEY_FILE = ".hmac-key"
_Model = TypeVar("_Model", bound=BaseModel)


@functools.cache
def _bot_version() -> str:
    return metadata.version("kpops-bot")


def cache_key(
    layout: RepoLayout,
    blobs: dict[str, str],
    pipeline: Pipeline,
    spec: RenderSpec,
    settings: dict[str, object],
    kpops: str | None = None,
) -> str:
    """The key of a render: `blobs` are the commit's git blob ids, `settings` the engine's render fingerprint,
    `kpops` the release that renders it (default: the bot's own)."""
    # a linked file's content is its target's: the key holds every git path the file is made of
    files = [*layout.git_paths(layout.input_files(pipeline, spec.environment)), *layout.custom_component_files()]
    document = {
        "kpops": kpops or metadata.version("kpops"),
        "kpops-bot": _bot_version(),
        "pipeline": pipeline.name,
        "pipeline_file": pipeline.pipeline_file,
        "environment": spec.environment,
        "mode": spec.mode.value,
        "operation": spec.operation.value,
        "config_dir": spec.config_dir,
        "settings": settings,
        "files": {path: blobs.get(path) for path in sorted(set(files))},
    }
    return _digest(document)


class ReadSet(BaseModel):
    """The repository paths one render read; their content at a commit picks the entry."""

    files: list[str]
    folders: list[str]
    trees: list[str]

    def state(self, blobs: Mapping[str, str], paths: Sequence[str] | None = None) -> str:
        """The content of these paths at the commit whose blob ids are `blobs`, as one digest; `paths` are the
        blobs' paths sorted, when the caller keeps them (a folder's entries are then found by bisection)."""
        ordered = sorted(blobs) if paths is None else paths
        return _digest(
            {
                "files": {path: blobs.get(path) for path in self.files},
                "folders": {path: _listing(_under(ordered, path), path) for path in self.folders},
                "trees": {path: _tree(blobs, _under(ordered, path), path) for path in self.trees},
            }
        )


class _Variants(BaseModel):
    read_sets: list[ReadSet]


class RenderFacts(Protocol):
    """What the bot derives from one render alone (the diff's schema checks of its manifests), made when the render
    is stored and stored with it, so that a cached render is not worked on again. `name` says what the facts are
    and everything besides the render they depend on (their format, schema releases): an entry holding none of
    that name (written before, or by an older bot) gets them made and written on its next use."""

    @property
    def name(self) -> str: ...

    def __call__(self, render: PipelineRender) -> Any: ...


class _Entry(BaseModel):
    render: PipelineRender
    reads: ReadSet
    # Added in the entry's second format; a first-format entry reads as one without facts (an older bot reading a
    # newer entry ignores the field).
    facts: dict[str, Any] = Field(default_factory=dict)


class RenderCache:
    """Entries in a folder; safe for concurrent readers and writers (atomic replace).

    With `max_bytes` the folder is kept under that size: a hit marks its files as used (their modification
    time), and when the files written exceed the bound the least recently used go until it holds 80 % of it.
    """

    def __init__(self, folder: Path, max_bytes: int | None = None) -> None:
        self._folder = folder
        self._root = str(folder)
        self._max_bytes = max_bytes
        self._size: int | None = None  # bytes in the folder as last counted, plus what was written since
        self._size_lock = threading.Lock()
        self.hits = 0
        self.stores = 0
        self._last_paths: tuple[Mapping[str, str], list[str]] | None = None

    @functools.cached_property
    def _mac_key(self) -> bytes:
        """The folder's secret, made on first use; readable by the bot's user alone."""
        path = self._folder / _KEY_FILE
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(os.urandom(32))
        return path.read_bytes()

    def get(
        self, key: str, revision: str, blobs: Mapping[str, str], facts: RenderFacts | None = None
    ) -> PipelineRender | None:
        """The render stored for `key` whose reads are unchanged at the commit of `blobs`, stamped with `revision`,
        with its `facts` (stored, or made now and stored)."""
        variants_path = self._variants_path(key)
        variants = self._load(variants_path, _Variants)
        for read_set in variants.read_sets if variants else []:
            entry_path = self._entry_path(key, read_set.state(blobs, self._sorted_paths(blobs)))
            entry = self._load(entry_path, _Entry)
            if entry is not None and entry.reads == read_set:
                self.hits += 1
                self._used(variants_path, entry_path)
                metrics.render_cache_lookups.labels(metrics.CacheResult.HIT.value).inc()
                reads = RenderReads(files=read_set.files, folders=read_set.folders, trees=read_set.trees)
                render = entry.render.model_copy(update={"revision": revision, "reads": reads})
                if facts is not None:
                    self._with_facts(entry_path, entry, render, facts)
                return render
        metrics.render_cache_lookups.labels(metrics.CacheResult.MISS.value).inc()
        return None

    def _with_facts(self, path: str, entry: _Entry, render: PipelineRender, facts: RenderFacts) -> None:
        """The entry's facts of that name on `render`; made and written into the entry when it has none."""
        value = entry.facts.get(facts.name)
        if value is None:
            value = _made(facts, entry.render)
            if value is None:
                return
            kept = dict(list({**entry.facts, facts.name: value}.items())[-_FACT_NAMES:])
            body = entry.model_copy(update={"facts": kept}).model_dump_json().encode()
            # Only a saving for the next run: a cache this process cannot write (read-only, full) still answers.
            with contextlib.suppress(OSError):
                if len(body) <= MAX_ENTRY_BYTES:
                    self._write(path, body, replacing=Path(path).stat().st_size)
        render.with_fact(facts.name, value)

    def put(self, key: str, render: PipelineRender, blobs: Mapping[str, str], facts: RenderFacts | None = None) -> None:
        """Store `render` (read at the commit of `blobs`) when the same inputs would reproduce it, with its `facts`
        (which `render` then carries too)."""
        if not cacheable(render) or render.reads is None:
            return
        read_set = ReadSet(files=render.reads.files, folders=render.reads.folders, trees=render.reads.trees)
        made = {} if facts is None else {facts.name: _made(facts, render)}
        stored = {name: value for name, value in made.items() if value is not None}
        for name, value in stored.items():
            render.with_fact(name, value)
        entry = _Entry(render=render, reads=read_set, facts=stored).model_dump_json().encode()
        if len(entry) > MAX_ENTRY_BYTES:
            return
        self._write(self._entry_path(key, read_set.state(blobs)), entry)
        variants = self._load(self._variants_path(key), _Variants) or _Variants(read_sets=[])
        if read_set not in variants.read_sets:
            kept = [*variants.read_sets, read_set][-MAX_VARIANTS:]
            self._write(self._variants_path(key), _Variants(read_sets=kept).model_dump_json().encode())
        self.stores += 1

    def _sorted_paths(self, blobs: Mapping[str, str]) -> Sequence[str]:
        """The paths of `blobs` sorted, kept for the commit looked up last: a run looks up every pipeline of a
        commit against the same blobs."""
        last = self._last_paths
        if last is not None and last[0] is blobs and len(last[1]) == len(blobs):
            return last[1]
        paths = sorted(blobs)
        self._last_paths = (blobs, paths)
        return paths

    # Paths as text: a lookup makes three, and pathlib's joins were a tenth of a cached lookup.
    def _variants_path(self, key: str) -> str:
        return f"{self._root}/{key[:2]}/{key}.reads.json"

    def _entry_path(self, key: str, state: str) -> str:
        return f"{self._root}/{key[:2]}/{key}-{state[:32]}.json"

    def _load(self, path: str, model: type[_Model]) -> _Model | None:
        """A file this class wrote, or None: absent, too large, not signed by this cache or not the model."""
        try:
            with open(path, "rb") as handle:  # noqa: PTH123 -- a text path, see above
                content = handle.read(MAX_ENTRY_BYTES + 128)
        except OSError:
            return None
        mac, _, body = content.partition(b"\n")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            return model.model_validate_json(body)
        except ValidationError:
            return None

    def _write(self, where: str, body: bytes, replacing: int = 0) -> None:
        """Write an entry in place of `where` (whose `replacing` bytes it takes over in the cache's size)."""
        path = Path(where)
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(self._mac(body) + b"\n" + body)
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)  # a full disk leaves no half-written file behind
            raise
        self._grew(len(body) + 65 - replacing)

    def size(self) -> int:
        """Bytes the entries take (file sizes, counted now)."""
        return sum(size for _, size, _ in _entries(self._folder))

    @staticmethod
    def _used(*paths: str) -> None:
        for path in paths:
            with contextlib.suppress(OSError):
                os.utime(path)

    def bound(self) -> None:
        """Keep the bound now, whatever the folder holds (entries of earlier runs, of a larger bound)."""
        if self._max_bytes is None:
            return
        with self._size_lock:
            self._size = self.size()
            if self._size > self._max_bytes:
                self._size = self._prune(self._max_bytes * 8 // 10)

    def _grew(self, written: int) -> None:
        if self._max_bytes is None:
            return
        with self._size_lock:
            if self._size is None:
                self._size = self.size()
            self._size += written
            if self._size > self._max_bytes:
                self._size = self._prune(self._max_bytes * 8 // 10)

    def _prune(self, target: int) -> int:
        """Remove the least recently used files until the folder holds at most `target` bytes; its size then."""
        entries = sorted(_entries(self._folder), key=lambda entry: entry[2])
        total = sum(size for _, size, _ in entries)
        for path, size, _ in entries:
            if total <= target:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                total -= size
                metrics.render_cache_evictions.inc()
        return total

    def _mac(self, body: bytes) -> bytes:
        return hmac.digest(self._mac_key, body, "sha256").hex().encode()  # the one-shot C path


def _made(facts: RenderFacts, render: PipelineRender) -> Any:
    """The render's facts, or None when they cannot be made: whoever needs them then works them out as before
    (and meets the same failure there, where it is reported)."""
    try:
        return facts(render)
    except Exception:  # facts are an optimisation: their consumer reports the failure
        return None


def _entries(folder: Path) -> Iterator[tuple[Path, int, float]]:
    """Every entry file (path, size, last use); the key file and files being written are not entries."""
    for path in folder.glob("*/*.json"):
        with contextlib.suppress(FileNotFoundError):
            status = path.stat()
            yield path, status.st_size, status.st_mtime


def cacheable(render: PipelineRender) -> bool:
    """Renders that the same inputs would reproduce: no machine failures, no chart left to pick its newest version,
    nothing read that the bot cannot account for."""
    if render.reads is not None and render.reads.unobserved:
        return False
    if render.error is not None:
        return render.error.kind not in _TRANSIENT_ERRORS
    return all(
        component.config.get("version") or "helm_release_name" not in component.config
        for component in render.components
    )


def _under(paths: Sequence[str], folder: str) -> Sequence[str]:
    """The sorted `paths` that may lie in `folder` (the folder itself as a path, and those below it): one range."""
    if folder == ".":
        return paths
    start = bisect.bisect_left(paths, folder)
    end = bisect.bisect_left(paths, folder + "0", start)  # "0" follows "/": past every "<folder>/..."
    return paths[start:end]


def _listing(paths: Sequence[str], folder: str) -> list[str]:
    prefix = "" if folder == "." else folder + "/"
    return sorted({path[len(prefix) :].split("/", 1)[0] for path in paths if path.startswith(prefix)})


def _tree(blobs: Mapping[str, str], paths: Sequence[str], folder: str) -> list[tuple[str, str]]:
    prefix = "" if folder == "." else folder + "/"
    return sorted((path, blobs[path]) for path in paths if path == folder or path.startswith(prefix))


def _digest(document: object) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
