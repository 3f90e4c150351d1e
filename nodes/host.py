"""The one place that touches the ComfyUI host: progress bar, interruption, messages, user directory.

Everything is looked up in ``sys.modules`` (ComfyUI has imported it before any custom node
loads), so outside ComfyUI each function is inert and importing this module costs nothing.
"""

from __future__ import annotations

import inspect
import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# The host's own status line under the node (send_progress_text). Off: the pack's web extension draws a
# richer line (bar, ticking clock, retries, seeds) from the friendli.progress events, and the frontend
# would show both. Turn on for frontends without the extension.
SEND_PROGRESS_TEXT = False


def _module(name: str) -> Any:
    return sys.modules.get(name)


def _server() -> Any:
    return getattr(getattr(_module("server"), "PromptServer", None), "instance", None)


def interrupted() -> bool:
    """True when the user cancelled the queue (``processing_interrupted()``); False outside ComfyUI."""
    mm = _module("comfy.model_management")
    return bool(mm.processing_interrupted()) if mm is not None else False


def is_interruption(exc: BaseException) -> bool:
    """True for the host's InterruptProcessingException."""
    cls = getattr(_module("comfy.model_management"), "InterruptProcessingException", None)
    return cls is not None and isinstance(exc, cls)


def raise_interrupted(cause: BaseException) -> None:
    """Raise the host's InterruptProcessingException (clearing its flag); outside ComfyUI re-raise ``cause``."""
    mm = _module("comfy.model_management")
    if mm is None:
        raise cause
    mm.throw_exception_if_processing_interrupted()  # raises and resets the flag when it is set
    raise mm.InterruptProcessingException() from cause


def supports_async() -> bool:
    """Whether the host runs ``async def`` node functions and takes ``ProgressBar(node_id=)``: both arrived
    in ComfyUI 0.3.45; older hosts would take the coroutine itself as the output. True outside ComfyUI."""
    bar = getattr(_module("comfy.utils"), "ProgressBar", None)
    try:
        return bar is None or "node_id" in inspect.signature(bar.__init__).parameters
    except (TypeError, ValueError):
        return True


def node_function(name: str) -> str:
    """The FUNCTION of an async node: ``name``, or on hosts before 0.3.45 ``run_sync``, which runs it to the end."""
    return name if supports_async() else "run_sync"


def progress_bar(total: int, node_id: str | None) -> Any:
    """comfy.utils.ProgressBar(total, node_id) (without the id on hosts before 0.3.45), or None outside ComfyUI."""
    utils = _module("comfy.utils")
    if utils is None:
        return None
    return utils.ProgressBar(total, node_id=node_id) if supports_async() else utils.ProgressBar(total)


def send_event(event: str, data: dict[str, Any]) -> None:
    """``PromptServer.instance.send_sync(event, data, client_id)``; nothing outside ComfyUI."""
    server = _server()
    if server is not None:
        server.send_sync(event, data, getattr(server, "client_id", None))


def browser_attached() -> bool:
    """Whether the client that queued the running prompt has a websocket open (a browser that can answer)."""
    server = _server()
    client_id = getattr(server, "client_id", None)
    return client_id is not None and client_id in (getattr(server, "sockets", None) or {})


def send_text(text: str, node_id: str | None) -> None:
    """The host's status text under the node, if it has that facility."""
    server = _server()
    if SEND_PROGRESS_TEXT and server is not None and node_id is not None and hasattr(server, "send_progress_text"):
        server.send_progress_text(text, node_id, getattr(server, "client_id", None))


def credentials_path() -> Path | None:
    """``<ComfyUI user dir>/comfyui-friendli/credentials.json`` inside ComfyUI, else None."""
    folder_paths = _module("folder_paths")
    getter = getattr(folder_paths, "get_user_directory", None)
    if getter is None:
        return None
    try:
        return Path(getter()) / "comfyui-friendli" / "credentials.json"
    except (TypeError, OSError):
        log.warning("comfyui-friendli: ComfyUI's user directory is unknown; using the default credentials file")
        return None


def user_folder() -> Path:
    """``<ComfyUI user dir>/comfyui-friendli`` inside ComfyUI, else the folder of the default credentials file."""
    path = credentials_path()
    if path is None:
        from ..client.config import default_credentials_path

        path = default_credentials_path()
    return path.parent


def preferences() -> Any:
    """Settings > Friendli (``client.prefs.Preferences``) from ``preferences.json`` in ``user_folder()``."""
    from ..client import prefs

    return prefs.read(user_folder() / prefs.FILE_NAME)
