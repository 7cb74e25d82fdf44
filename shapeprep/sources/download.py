"""Download the objects of one shard through the ``objaverse`` package, surviving failures.

objaverse's own downloaders stop at the first network error (one failed
``urlopen`` inside their process pool ends the whole call) and keep no record
of what failed. Here every object ends in one of four states, with a reason
and the number of download calls it took part in:

``downloaded``
    The file is on disk at ``path`` with the expected sha256 (Objaverse-XL) or
    as published (Objaverse 1.0 has no hashes).
``missing``
    Gone at the source: HTTP 404, a GitHub repository that cannot be cloned,
    a file that is not in its repository, a uid that is not in Objaverse.
``modified``
    Downloaded, but its sha256 differs from the metadata's: a different object.
``failed``
    Refused (an unsafe or oversized GitHub zip) or still failing after
    ``max_attempts`` tries (server errors, timeouts).

How it survives:

- A batch whose call raises is split in halves and retried, so one bad object
  is isolated in ``log2(batch)`` calls and the others still arrive. Calls after
  an error wait ``backoff_seconds * 2**k``.
- Every callback and every final outcome is appended to a per-shard journal
  (JSON lines). A killed job resumes from it: objects already settled are not
  requested again.
- Files go to a configurable cache: objaverse's layout under
  ``<cache>/objaverse`` (so its own "already downloaded" checks apply) and
  GitHub objects extracted from their repository zip to
  ``<cache>/objects/<sha[:2]>/<sha><suffix>``.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import logging
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..status import MeshError
from .archives import extract_member
from .identifiers import file_sha256, github_parts, xl_source, xl_suffix

logger = logging.getLogger("shapeprep")

DOWNLOAD_STATES = ("downloaded", "missing", "modified", "failed")

HF_OBJAVERSE = "https://huggingface.co/datasets/allenai/objaverse/resolve/main"


@dataclass
class Outcome:
    """What one call found out about one object.

    ``final`` is False for outcomes worth another try (a clone that failed, a
    server error); the last such outcome is kept when the tries run out.
    """

    state: str
    reason: str = ""
    message: str = ""
    path: str = ""
    final: bool = True


def stored_path(cache_dir: str | Path, object_id: str, suffix: str) -> Path:
    """Where an extracted object lives in the cache (sharded by the first two hex digits)."""
    return Path(cache_dir) / "objects" / object_id[:2] / f"{object_id}{suffix}"


def objaverse_dir(cache_dir: str | Path) -> str:
    """The ``download_dir`` handed to objaverse: its own layout under the cache."""
    return str(Path(cache_dir) / "objaverse")


def github_zip_path(cache_dir: str | Path, file_identifier: str) -> Path:
    """Where objaverse saves the repository zip of a GitHub object."""
    org, repo, _, _ = github_parts(file_identifier)
    return Path(objaverse_dir(cache_dir)) / "github" / "repos" / org / f"{repo}.zip"


# ----------------------------------------------------------------------------- journal


class Journal:
    """Append-only JSON-lines record of a shard's download events and outcomes.

    Lines are short and written with one ``write`` in append mode, so lines from
    objaverse's worker processes do not interleave. A line torn by a kill is skipped.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                records.append(json.loads(line))
        return records

    def events(self, call: str) -> dict[str, dict]:
        """Last found / modified / missing event per object id in one call."""
        return {r["object_id"]: r for r in self.records()
                if r.get("kind") == "event" and r.get("call") == call and r.get("event") != "new"}

    def outcomes(self) -> dict[str, dict]:
        """Last recorded outcome per object id (any earlier run)."""
        return {r["object_id"]: r for r in self.records() if r.get("kind") == "outcome"}


def record_event(journal_path: str, call: str, event: str, *, file_identifier: str, metadata=None, **fields) -> None:
    """objaverse callback (found / modified / missing / new): journal the event.

    Runs in objaverse's worker processes, so it only appends a line. The object
    id of an Objaverse-XL object is its expected sha256: ``sha256`` for found
    and missing objects, ``old_sha256`` for modified ones. ``new`` events are
    files of a cloned repository that the metadata does not list; they are
    journaled for the record and not downloaded.
    """
    object_id = fields.get("old_sha256") or fields.get("sha256")
    record = {"kind": "event", "call": call, "event": event, "object_id": object_id, "file_identifier": file_identifier}
    if event == "modified":
        record["new_sha256"] = fields.get("new_sha256")
    Journal(journal_path).append(record)


# ----------------------------------------------------------------------------- one call per batch


def http_status(url: str) -> int | None:
    """HTTP status of a HEAD request to ``url`` (mirrors apply), or None when unreachable."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def error_outcome(error: BaseException, url: str | None = None) -> Outcome:
    """Outcome of an object whose download raised while it was alone in its call.

    objaverse's process pool cannot send ``HTTPError`` back (it holds an open
    socket), so the parent sees only a pickling error; the status is then asked
    from the server with a HEAD request to ``url``.
    """
    code = error.code if isinstance(error, urllib.error.HTTPError) else (http_status(url) if url else None)
    if code in (404, 410):
        return Outcome("missing", "http_404", f"HTTP {code} for {url or getattr(error, 'url', '')}")
    if code is not None and code >= 400:
        return Outcome("failed", f"http_{code}", f"HTTP {code} for {url or getattr(error, 'url', '')}", final=False)
    return Outcome("failed", "download_error", f"{type(error).__name__}: {str(error)[:300]}", final=False)


@functools.lru_cache(maxsize=2)
def _object_paths(path: str, mtime: float) -> dict[str, str]:
    with gzip.open(path, "rb") as handle:
        return json.load(handle)


def objaverse_v1_url(versioned_path: str, uid: str) -> str | None:
    """Hugging Face URL of an Objaverse 1.0 / Sketchfab object, from the cached ``object-paths.json.gz``."""
    path = os.path.join(versioned_path, "object-paths.json.gz")
    if not os.path.exists(path):
        return None
    relative = _object_paths(path, os.path.getmtime(path)).get(uid)
    return f"{HF_OBJAVERSE}/{relative}" if relative else None


def settle_github(object_id: str, identifier: str, event: dict | None, cache_dir, limits: dict) -> Outcome | None:
    """Extract a GitHub object from its repository zip and check its hash."""
    target = stored_path(cache_dir, object_id, xl_suffix(identifier))
    if target.exists():
        return Outcome("downloaded", path=str(target))
    archive = github_zip_path(cache_dir, identifier)
    if not archive.exists():
        if event and event["event"] == "missing":
            return Outcome("missing", "clone_failed", "the repository could not be cloned", final=False)
        return None
    member = github_parts(identifier)[3]
    try:
        extract_member(archive, member, target, limits["max_zip_members"], limits["max_zip_bytes"])
    except MeshError as error:
        if error.reason == "zip_member_missing":
            return Outcome("missing", "not_in_repository", error.message)
        if error.reason == "zip_corrupt":
            # objaverse copies the zip into place non-atomically: a killed job
            # leaves a torn one that objaverse would never replace. Removing it
            # makes the next try clone again.
            archive.unlink(missing_ok=True)
            return Outcome("failed", error.reason, error.message, final=False)
        return Outcome("failed", error.reason, error.message)
    actual = file_sha256(target)
    if actual != object_id:
        target.unlink()
        return Outcome("modified", "hash_mismatch", f"sha256 {actual} in the repository, {object_id} expected")
    return Outcome("downloaded", path=str(target))


def settle_file(object_id: str, identifier: str, event: dict | None, returned: dict[str, str]) -> Outcome | None:
    """Outcome of an object objaverse downloads as a single file (Sketchfab, Thingiverse, Smithsonian)."""
    if event and event["event"] == "modified":
        return Outcome("modified", "hash_mismatch", f"downloaded sha256 {event.get('new_sha256')}, {object_id} expected")
    path = returned.get(identifier)
    if path and os.path.exists(path):
        if not (event and event["event"] == "found"):  # objaverse's cached copy: check it ourselves
            actual = file_sha256(path)
            if actual != object_id:
                # A copy torn by a killed job, or a modified file cached by an
                # earlier run: remove it so the next try downloads and tells.
                os.unlink(path)
                return Outcome("failed", "cached_file_mismatch", f"cached file had sha256 {actual}", final=False)
        return Outcome("downloaded", path=str(path))
    if event and event["event"] == "missing":
        return Outcome("missing", "not_in_objaverse", "objaverse has no object for this identifier")
    return None


def xl_batch(objects: pd.DataFrame, cache_dir, journal: Journal, processes: int, limits: dict):
    """One ``objaverse.xl.download_objects`` call for ``objects``; returns ``(outcomes, error)``.

    ``objects`` has ``object_id`` (the sha256) and ``location`` (the file identifier).
    """
    import objaverse.xl

    call = uuid.uuid4().hex[:12]
    frame = pd.DataFrame(
        {
            "fileIdentifier": objects["location"].to_numpy(),
            "sha256": objects["object_id"].to_numpy(),
            "source": [xl_source(identifier) for identifier in objects["location"]],
        }
    )
    callback = functools.partial(record_event, str(journal.path), call)
    returned, error = {}, None
    try:
        returned = objaverse.xl.download_objects(
            frame,
            download_dir=objaverse_dir(cache_dir),
            processes=processes,
            handle_found_object=functools.partial(callback, "found"),
            handle_modified_object=functools.partial(callback, "modified"),
            handle_missing_object=functools.partial(callback, "missing"),
            handle_new_object=functools.partial(callback, "new"),
            save_repo_format="zip",
        )
    except Exception as exc:  # one object's error must not lose the batch
        error = exc
    events = journal.events(call)
    outcomes = {}
    for object_id, identifier, source in zip(frame["sha256"], frame["fileIdentifier"], frame["source"]):
        event = events.get(object_id)
        if source == "github":
            outcome = settle_github(object_id, identifier, event, cache_dir, limits)
        else:
            outcome = settle_file(object_id, identifier, event, returned or {})
        if outcome is None and error is not None and len(frame) == 1:
            url = None
            if source == "sketchfab":
                versioned = os.path.join(objaverse_dir(cache_dir), "hf-objaverse-v1")
                url = objaverse_v1_url(versioned, identifier.rstrip("/").split("/")[-1])
            elif source == "smithsonian":
                url = identifier
            outcome = error_outcome(error, url)
        if outcome is not None:
            outcomes[object_id] = outcome
    return outcomes, error


@contextlib.contextmanager
def objaverse_v1_cache(cache_dir):
    """Point objaverse 1.0's module-level cache path at our cache for the block."""
    import objaverse

    previous = objaverse._VERSIONED_PATH
    objaverse._VERSIONED_PATH = os.path.join(objaverse_dir(cache_dir), "hf-objaverse-v1")
    try:
        yield objaverse._VERSIONED_PATH
    finally:
        objaverse._VERSIONED_PATH = previous


def fetch_object_paths(versioned_path: str) -> None:
    """Fetch Objaverse 1.0's ``object-paths.json.gz`` atomically if it is missing or torn.

    objaverse writes it in place, so a job killed mid-download would leave a
    truncated file that fails every later run.
    """
    path = Path(versioned_path) / "object-paths.json.gz"
    if path.exists():
        try:
            with gzip.open(path, "rb") as handle:
                json.load(handle)
            return
        except (OSError, EOFError, ValueError):
            path.unlink()
    with atomic_path(path) as temporary, urllib.request.urlopen(f"{HF_OBJAVERSE}/object-paths.json.gz") as response:
        temporary.write_bytes(response.read())


def uid_batch(objects: pd.DataFrame, cache_dir, journal: Journal, processes: int, limits: dict):
    """One ``objaverse.load_objects`` call for Objaverse 1.0 uids; returns ``(outcomes, error)``."""
    import objaverse

    uids = objects["object_id"].tolist()
    returned, error = {}, None
    with objaverse_v1_cache(cache_dir) as versioned_path:
        try:
            fetch_object_paths(versioned_path)
            returned = objaverse.load_objects(uids, download_processes=processes)
        except Exception as exc:  # one object's error must not lose the batch
            error = exc
    outcomes = {}
    for uid in uids:
        path = returned.get(uid)
        if path and os.path.exists(path):
            outcomes[uid] = Outcome("downloaded", path=path)
        elif error is None:
            outcomes[uid] = Outcome("missing", "not_in_objaverse", f"uid {uid} is not in Objaverse 1.0")
        elif len(uids) == 1:
            outcomes[uid] = error_outcome(error, objaverse_v1_url(versioned_path, uid))
    return outcomes, error


# ----------------------------------------------------------------------------- retries


def download_with_retries(
    object_ids: list[str],
    call: Callable[[list[str]], tuple[dict[str, Outcome], BaseException | None]],
    max_attempts: int,
    backoff_seconds: float,
    attempts: dict[str, int] | None = None,
    on_outcome: Callable[[str, Outcome, int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, tuple[Outcome, int]]:
    """Call ``call(batch)`` until every object has a final outcome or has used its tries.

    Parameters
    ----------
    object_ids : the objects to fetch
    call : one download call; returns per-object outcomes (objects it could not
        tell anything about are left out) and the exception it raised, if any
    max_attempts : tries per object; a try counts when the object was alone in a
        failing call or in a call that did not raise
    backoff_seconds : wait before a call whose objects were in a failing call,
        doubled for each failing call the worst of them was in (capped at 64x)
    attempts : tries made by earlier runs (resume)
    on_outcome : called with ``(object_id, outcome, attempts)`` once per object

    Returns
    -------
    dict ``object_id -> (outcome, attempts)``; ``attempts`` counts every call the
    object was part of, including this run's and earlier runs'.
    """
    tries = {object_id: (attempts or {}).get(object_id, 0) for object_id in object_ids}
    failed_calls = {object_id: 0 for object_id in object_ids}
    counted = {object_id: 0 for object_id in object_ids}
    results: dict[str, tuple[Outcome, int]] = {}
    queue = [list(object_ids)] if object_ids else []

    def finish(object_id, outcome):
        results[object_id] = (outcome, tries[object_id])
        if on_outcome:
            on_outcome(object_id, outcome, tries[object_id])

    while queue:
        batch = queue.pop(0)
        worst = max(failed_calls[object_id] for object_id in batch)
        if worst:
            sleep(backoff_seconds * 2 ** min(worst - 1, 6))
        outcomes, error = call(batch)
        unsettled = []
        for object_id in batch:
            tries[object_id] += 1
            outcome = outcomes.get(object_id)
            if outcome is not None and outcome.final:
                finish(object_id, outcome)
            else:
                failed_calls[object_id] += 1
                unsettled.append(object_id)
        if error is not None and len(unsettled) > 1:
            middle = len(unsettled) // 2
            queue[:0] = [unsettled[:middle], unsettled[middle:]]
            continue
        retry = []
        for object_id in unsettled:
            counted[object_id] += 1
            outcome = outcomes.get(object_id) or (
                error_outcome(error) if error is not None else Outcome("failed", "no_result", "objaverse returned nothing")
            )
            if outcome.final or counted[object_id] >= max_attempts:
                finish(object_id, Outcome(outcome.state, outcome.reason, outcome.message, outcome.path))
            else:
                retry.append(object_id)
        if retry:
            queue.append(retry)
    return results


# ----------------------------------------------------------------------------- a shard


BATCH_CALLS = {"objaverse_xl": xl_batch, "objaverse": uid_batch}


def download_shard(objects: pd.DataFrame, cache_dir: str | Path, journal_path: str | Path, params: dict) -> pd.DataFrame:
    """Bring every object of a shard list to disk; one status row per object.

    Parameters
    ----------
    objects : DataFrame with ``object_id, source, location`` (the shard list)
    cache_dir : download cache (objaverse's layout plus extracted GitHub objects)
    journal_path : the shard's journal; kept between runs for resuming
    params : dict
        ``processes``, ``batch_size``, ``max_attempts``, ``backoff_seconds``,
        ``max_zip_members``, ``max_zip_bytes``.

    Returns
    -------
    DataFrame with ``object_id, status ('ok' | 'failed'), reason, message,
    seconds, state, attempts, path, bytes``.
    """
    journal = Journal(journal_path)
    earlier = journal.outcomes()
    rows = {}

    def add_row(object_id, outcome: Outcome, attempts: int, seconds: float = 0.0):
        size = os.path.getsize(outcome.path) if outcome.path and os.path.exists(outcome.path) else 0
        rows[object_id] = {
            "object_id": object_id,
            "status": "ok" if outcome.state == "downloaded" else "failed",
            "reason": "" if outcome.state == "downloaded" else (outcome.reason or outcome.state),
            "message": outcome.message,
            "seconds": seconds,
            "state": outcome.state,
            "attempts": attempts,
            "path": outcome.path,
            "bytes": size,
        }

    for source, group in objects.groupby("source", sort=True):
        if source == "local":
            for object_id, location in zip(group["object_id"], group["location"]):
                found = os.path.exists(location)
                outcome = Outcome("downloaded", path=location) if found else Outcome(
                    "missing", "file_not_found", f"{location} no longer exists")
                add_row(object_id, outcome, 0)
            continue
        call_batch = BATCH_CALLS[source]
        todo = []
        for object_id in group["object_id"]:
            record = earlier.get(object_id)
            resumable = record and record["state"] in ("missing", "modified")
            resumable = resumable or (record and record["state"] == "downloaded" and os.path.exists(record["path"]))
            if resumable:
                add_row(object_id, Outcome(record["state"], record["reason"], record["message"], record["path"]),
                        record["attempts"])
            else:
                todo.append(object_id)
        if not todo:
            continue
        logger.info("download %s: %d objects to fetch, %d settled by earlier runs", source, len(todo),
                    len(group) - len(todo))
        by_id = group.set_index("object_id")
        seconds_per_object = 0.0  # of the latest call: objects are fetched in batches, not one by one

        def call(batch, call_batch=call_batch, by_id=by_id):
            nonlocal seconds_per_object
            started = time.perf_counter()
            outcomes, error = call_batch(by_id.loc[batch].reset_index(), cache_dir, journal, params["processes"], params)
            if error is not None:
                logger.warning("download call over %d objects raised %s: %s", len(batch), type(error).__name__, error)
            seconds_per_object = (time.perf_counter() - started) / max(len(batch), 1)
            return outcomes, error

        def on_outcome(object_id, outcome, attempts):
            journal.append({"kind": "outcome", "object_id": object_id, "attempts": attempts, **asdict(outcome)})
            add_row(object_id, outcome, attempts, seconds_per_object)

        prior = {object_id: earlier[object_id]["attempts"] for object_id in todo if object_id in earlier}
        started, batch_size = time.perf_counter(), params["batch_size"]
        for begin in range(0, len(todo), batch_size):
            download_with_retries(todo[begin:begin + batch_size], call, params["max_attempts"],
                                  params["backoff_seconds"], prior, on_outcome)
            done = min(begin + batch_size, len(todo))
            rate = done / max(time.perf_counter() - started, 1e-9)
            logger.info("download progress: %d/%d %s objects, %.2f objects/s, ETA %.0f s", done, len(todo), source,
                        rate, (len(todo) - done) / rate)
    table = pd.DataFrame([rows[object_id] for object_id in objects["object_id"]],
                         columns=["object_id", "status", "reason", "message", "seconds", "state", "attempts", "path",
                                  "bytes"])
    for state in DOWNLOAD_STATES:
        logger.info("download: %d %s", int((table["state"] == state).sum()), state)
    return table
