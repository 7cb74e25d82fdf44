"""A local stand-in for Hugging Face and GitHub that the real objaverse code downloads from.

:class:`ObjaverseServer` serves, on 127.0.0.1:

- ``/hf/<path>``: files under ``root/hf`` (``datasets/allenai/objaverse/resolve/main/...``),
  the layout objaverse builds its ``https://huggingface.co`` URLs with;
- ``/git/<org>/<repo>.git``: real git repositories under ``root/git`` through
  ``git http-backend`` (smart HTTP, so objaverse's ``git clone --depth 1`` works).

Faults are injected per path: ``fail_once`` answers 500 once, ``stall`` sleeps
before answering; ``latency`` delays every request. Every request path is logged in ``requests``.
:data:`MIRRORS` maps the real hosts onto it (see :mod:`shapeprep.mirrors`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HF_PREFIX = "datasets/allenai/objaverse/resolve/main"


class ObjaverseServer:
    """Serve ``root`` until :meth:`stop`; faults and the request log are plain attributes."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "hf" / HF_PREFIX).mkdir(parents=True, exist_ok=True)
        (self.root / "git").mkdir(parents=True, exist_ok=True)
        self.fail_once: set[str] = set()
        self.stall: dict[str, float] = {}
        self.latency = 0.0  # seconds added to every request, to imitate a distant server
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def handle_one_request(self):
                try:
                    super().handle_one_request()
                except (BrokenPipeError, ConnectionResetError):  # a killed client
                    self.close_connection = True

            def do_GET(self):
                server.handle(self)

            do_POST = do_HEAD = do_GET

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def mirrors(self) -> dict[str, str]:
        return {"https://huggingface.co": f"{self.url}/hf", "https://github.com": f"{self.url}/git"}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        self.requests.append(path)
        if self.latency:
            time.sleep(self.latency)
        if path in self.stall:
            time.sleep(self.stall[path])
        if path in self.fail_once:
            self.fail_once.discard(path)
            request.send_error(500, "injected server error")
            return
        if path.startswith("/git/"):
            self.git_backend(request)
            return
        file = self.root / path.lstrip("/")
        if not path.startswith("/hf/") or not file.is_file():
            request.send_error(404)
            return
        body = file.read_bytes()
        request.send_response(200)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(body)

    def git_backend(self, request: BaseHTTPRequestHandler) -> None:
        """Run ``git http-backend`` as a CGI program for one request."""
        path, _, query = request.path.partition("?")
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_PROJECT_ROOT": str(self.root / "git"),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": request.command,
            "PATH_INFO": path[len("/git"):],
            "QUERY_STRING": query,
            "CONTENT_TYPE": request.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_GIT_PROTOCOL": request.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": "127.0.0.1",
        }
        if request.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = request.headers["Content-Encoding"]
        result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True, check=False)
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        request.send_response(status)
        for key, value in headers:
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    # ------------------------------------------------------------------ content

    def hf_file(self, relative: str, data: bytes) -> str:
        """Put ``data`` at ``resolve/main/<relative>``; returns the request path."""
        file = self.root / "hf" / HF_PREFIX / relative
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(data)
        return f"/hf/{HF_PREFIX}/{relative}"

    def sketchfab_objects(self, objects: dict[str, Path | None]) -> dict[str, str]:
        """Publish Objaverse glbs: ``uid -> file`` (None: listed but not served, a 404).

        Writes ``object-paths.json.gz`` and returns ``uid -> request path``.
        """
        paths, served = {}, {}
        for uid, file in objects.items():
            relative = f"glbs/000-001/{uid}.glb"
            paths[uid] = relative
            served[uid] = f"/hf/{HF_PREFIX}/{relative}"
            if file is not None:
                self.hf_file(relative, Path(file).read_bytes())
        self.hf_file("object-paths.json.gz", gzip.compress(json.dumps(paths).encode()))
        return served

    def git_repository(self, org: str, repo: str, files: dict[str, bytes]) -> str:
        """Create a bare repository ``org/repo`` holding ``files``; returns its commit hash."""
        work = self.root / "work" / org / repo
        work.mkdir(parents=True)
        for name, data in files.items():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_bytes(data)
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
        subprocess.run([*git, "init", "-q"], cwd=work, check=True)
        subprocess.run([*git, "add", "-A"], cwd=work, check=True)
        subprocess.run([*git, "commit", "-q", "-m", "fixture"], cwd=work, check=True)
        bare = self.root / "git" / org / f"{repo}.git"
        bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
        shutil.rmtree(work)
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=bare, capture_output=True, text=True,
                              check=True).stdout.strip()


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
