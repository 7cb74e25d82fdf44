"""Download throughput and robustness against objaverse's own downloader, on a local server.

Both sides run the same objaverse 0.1.7 code against tests/objaverse_server.py
(Hugging Face-style files and git smart-HTTP repositories on 127.0.0.1, with an
added per-request latency to imitate a distant server):

- peer: one ``objaverse.xl.download_objects`` call, as TRELLIS's toolkit does;
- ours: ``shapeprep.sources.download.download_shard`` (journal, retries, zip checks, hash checks).

Scenarios: a clean run, a run with one injected server error, and a rerun
over a finished shard (resume). Prints a table of times, objects obtained and
our time over the peer's.

    python benchmarks/download.py [--sketchfab 200] [--repos 20] [--files-per-repo 5] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shapeprep.sources.download import download_shard  # noqa: E402
from shapeprep.sources.mirrors import network_settings  # noqa: E402
from tests.objaverse_server import ObjaverseServer, sha256_of  # noqa: E402

SHARED = REPO.parent / "shared" / "meshes"


def build_world(root: Path, sketchfab: int, repos: int, files_per_repo: int):
    """Serve ``sketchfab`` distinct glbs and ``repos`` repositories; return the server and the objects table."""
    server = ObjaverseServer(root)
    glb = (SHARED / "low-poly-tree.glb").read_bytes()
    obj = (SHARED / "spot.obj").read_bytes()
    files, rows = {}, []
    for index in range(sketchfab):
        uid = f"{index:032x}"
        data = glb + b" " * (index + 1)  # distinct bytes, distinct sha256
        path = root / "glbs" / f"{uid}.glb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        files[uid] = path
        rows.append((sha256_of(data), f"https://sketchfab.com/3d-models/{uid}"))
    server.sketchfab_objects(files)
    for repo in range(repos):
        contents = {f"models/m{k}.obj": obj + f"# {repo} {k}\n".encode() for k in range(files_per_repo)}
        commit = server.git_repository("bench", f"repo{repo}", contents)
        for name, data in contents.items():
            rows.append((sha256_of(data), f"https://github.com/bench/repo{repo}/blob/{commit}/{name}"))
    objects = pd.DataFrame(rows, columns=["object_id", "location"]).assign(source="objaverse_xl")
    return server, objects


def peer_download(objects, cache: Path, processes: int) -> tuple[float, int, str]:
    import objaverse.xl

    frame = pd.DataFrame({"fileIdentifier": objects["location"], "sha256": objects["object_id"],
                          "source": ["github" if "github" in loc else "sketchfab" for loc in objects["location"]]})
    started = time.perf_counter()
    try:
        result = objaverse.xl.download_objects(frame, download_dir=str(cache), processes=processes,
                                               save_repo_format="zip")
        return time.perf_counter() - started, len(result), ""
    except Exception as error:  # the point of the comparison: the peer's call dies
        return time.perf_counter() - started, 0, type(error).__name__


def our_download(objects, cache: Path, journal: Path, processes: int) -> tuple[float, int, str]:
    params = {"processes": processes, "batch_size": 200, "max_attempts": 3, "backoff_seconds": 0.5,
              "max_zip_members": 100_000, "max_zip_bytes": 4 << 30}
    started = time.perf_counter()
    table = download_shard(objects, cache, journal, params)
    seconds = time.perf_counter() - started
    return seconds, int((table["state"] == "downloaded").sum()), ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sketchfab", type=int, default=200)
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--files-per-repo", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added to every request")
    parser.add_argument("--processes", type=int, default=8)
    args = parser.parse_args()

    import logging
    import os

    from loguru import logger as objaverse_logger

    objaverse_logger.remove()
    os.environ["TQDM_DISABLE"] = "1"
    logging.getLogger("shapeprep").setLevel(logging.WARNING)
    root = Path(tempfile.mkdtemp(prefix="shapeprep-bench-download-"))
    try:
        server, objects = build_world(root / "server", args.sketchfab, args.repos, args.files_per_repo)
        server.latency = args.latency
        total = len(objects)
        first_glb = f"/hf/datasets/allenai/objaverse/resolve/main/glbs/000-001/{args.sketchfab // 2:032x}.glb"
        rows = []
        with network_settings(server.mirrors, timeout_seconds=30):
            for scenario in ("clean", "one server error"):
                if scenario == "one server error":
                    server.fail_once.add(first_glb)
                peer = peer_download(objects, root / f"peer-{len(rows)}", args.processes)
                if scenario == "one server error":
                    server.fail_once.add(first_glb)
                ours = our_download(objects, root / f"ours-{len(rows)}", root / f"journal-{len(rows)}.jsonl",
                                    args.processes)
                rows.append((scenario, peer, ours))
            # resume: the finished shard again, same cache and journal
            peer = peer_download(objects, root / "peer-0", args.processes)
            ours = our_download(objects, root / "ours-0", root / "journal-0.jsonl", args.processes)
            rows.append(("rerun of a finished shard", peer, ours))
        server.stop()
        print(f"{total} objects ({args.sketchfab} sketchfab glbs, {args.repos} GitHub repos x {args.files_per_repo}"
              f" files), {args.processes} processes, {args.latency * 1000:.0f} ms per request\n")
        print("| scenario | peer s | peer objects | ours s | ours objects | ours / peer time |")
        print("|---|---|---|---|---|---|")
        for scenario, (peer_s, peer_n, peer_error), (ours_s, ours_n, _) in rows:
            peer_cell = f"{peer_n}" + (f" ({peer_error})" if peer_error else "")
            ratio = "peer failed" if peer_error else f"{ours_s / peer_s:.2f}"
            print(f"| {scenario} | {peer_s:.2f} | {peer_cell} | {ours_s:.2f} | {ours_n} | {ratio} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
