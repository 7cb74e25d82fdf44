"""Network settings for the objaverse package: URL mirrors, timeouts, no prompts.

objaverse hard-codes ``https://huggingface.co`` (fetched with urllib) and
``https://github.com`` (cloned with ``git``). :func:`network_settings`
sends those prefixes elsewhere (an HF mirror such as ``hf-mirror.com``, an
internal cache, or the tests' server on 127.0.0.1) without touching the
library's code:

- urllib: an opener whose first handler rewrites matching URLs;
- git: ``url.<mirror>.insteadOf`` through ``GIT_CONFIG_COUNT`` variables,
  which child processes (objaverse's ``git clone``) inherit.

It also makes stalled transfers fail instead of hanging a job forever: a
socket timeout for urllib, a low-speed abort for git, and no credential
prompt from git when a repository is gone (GitHub answers a deleted
repository with an authentication request).
"""

from __future__ import annotations

import contextlib
import os
import socket
import urllib.request


def rewrite_url(url: str, mirrors: dict[str, str]) -> str:
    """``url`` with its longest matching mirror prefix replaced.

    Parameters
    ----------
    url : str
    mirrors : dict
        ``original prefix -> replacement prefix``, e.g.
        ``{"https://huggingface.co": "https://hf-mirror.com"}``.
    """
    for original in sorted(mirrors, key=len, reverse=True):
        if url.startswith(original):
            return mirrors[original] + url[len(original):]
    return url


class MirrorHandler(urllib.request.BaseHandler):
    """urllib handler that reopens requests for mirrored prefixes at the mirror."""

    handler_order = 100  # before the http/https handlers

    def __init__(self, mirrors: dict[str, str]):
        self.mirrors = dict(mirrors)

    def default_open(self, request):
        target = rewrite_url(request.full_url, self.mirrors)
        if target == request.full_url:
            return None
        mirrored = urllib.request.Request(
            target, data=request.data, headers=dict(request.header_items()), method=request.get_method()
        )
        return self.parent.open(mirrored, timeout=request.timeout)


def git_environment(mirrors: dict[str, str], low_speed_seconds: int) -> dict[str, str]:
    """Environment variables that make ``git`` use ``mirrors`` and give up on stalls."""
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "true",
        "GIT_HTTP_LOW_SPEED_LIMIT": "1000",
        "GIT_HTTP_LOW_SPEED_TIME": str(int(low_speed_seconds)),
        "GIT_CONFIG_COUNT": str(len(mirrors)),
    }
    for index, (original, replacement) in enumerate(sorted(mirrors.items())):
        env[f"GIT_CONFIG_KEY_{index}"] = f"url.{replacement.rstrip('/')}/.insteadOf"
        env[f"GIT_CONFIG_VALUE_{index}"] = f"{original.rstrip('/')}/"
    return env


@contextlib.contextmanager
def network_settings(mirrors: dict[str, str] | None = None, timeout_seconds: float = 60.0):
    """Apply mirrors and timeouts to urllib and git inside the block; restore them after.

    Worker processes that objaverse forks inside the block inherit the settings.
    """
    mirrors = dict(mirrors or {})
    previous_opener = urllib.request._opener  # restored below; urllib has no public getter
    previous_timeout = socket.getdefaulttimeout()
    env = git_environment(mirrors, low_speed_seconds=max(int(timeout_seconds), 1))
    previous_env = {key: os.environ.get(key) for key in env}
    urllib.request.install_opener(urllib.request.build_opener(MirrorHandler(mirrors)))
    socket.setdefaulttimeout(timeout_seconds)
    os.environ.update(env)
    try:
        yield
    finally:
        urllib.request.install_opener(previous_opener)
        socket.setdefaulttimeout(previous_timeout)
        for key, value in previous_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
