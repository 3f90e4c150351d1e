"""Torch-free client library for Friendli image edits and generations (no ComfyUI, no torch)."""

from .api import EditedImage, FriendliImageClient
from .bulk import BulkResult, BulkRun, Item
from .request import EditRequest, ImageRequest
from .config import CONTAINER, DEDICATED, Settings, resolve_settings
from .errors import (
    FriendliAuthError,
    FriendliBatchError,
    FriendliCancelledError,
    FriendliConfigError,
    FriendliEndpointWakingError,
    FriendliError,
    FriendliInputError,
    FriendliNetworkError,
    FriendliNotFoundError,
    FriendliRateLimitError,
    FriendliResponseError,
    FriendliServerError,
    FriendliTimeoutError,
    FriendliValidationError,
)
from .runner import run_jobs
from .version import __version__

__all__ = [
    "BulkResult", "BulkRun", "CONTAINER", "DEDICATED", "EditRequest", "EditedImage", "FriendliAuthError", "FriendliBatchError", "FriendliCancelledError",
    "FriendliConfigError", "FriendliEndpointWakingError", "FriendliError", "FriendliImageClient",
    "FriendliInputError", "FriendliNetworkError", "FriendliNotFoundError", "FriendliRateLimitError",
    "FriendliResponseError", "FriendliServerError", "FriendliTimeoutError", "FriendliValidationError",
    "ImageRequest", "Item", "Settings", "__version__", "resolve_settings", "run_jobs",
]
