"""A local stand-in for the FriendliAI image endpoints (edits, generations, both services, faults, the
beta endpoint routes and lifecycle), for tests, demos and benchmarks. Not a model: its images are
deterministic stand-ins."""

from .cli import main
from .endpoints import EmulatedEndpoint
from .lifecycle import EndpointSim
from .server import Emulator, RecordedRequest
from .stand_in import encode_image, stand_in_edit, stand_in_generate

__all__ = ["EmulatedEndpoint", "Emulator", "EndpointSim", "RecordedRequest", "encode_image", "main",
           "stand_in_edit", "stand_in_generate"]
