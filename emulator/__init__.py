"""A local stand-in for the FriendliAI image-edit endpoint (both services, faults, lifecycle), for tests,
demos and benchmarks. Not a model: its edit is a deterministic tint."""

from .lifecycle import EndpointSim
from .server import Emulator, RecordedRequest, main
from .stand_in import encode_image, stand_in_edit

__all__ = ["Emulator", "EndpointSim", "RecordedRequest", "encode_image", "main", "stand_in_edit"]
