"""ComfyUI nodes of the pack. Importing them needs neither torch nor the network."""

from .edit import FriendliImageEdit, FriendliMultiImageEdit
from .generate import FriendliImageGenerate
from .endpoint import FriendliEndpoint

NODE_CLASS_MAPPINGS = {
    "FriendliImageEdit": FriendliImageEdit,
    "FriendliMultiImageEdit": FriendliMultiImageEdit,
    "FriendliImageGenerate": FriendliImageGenerate,
    "FriendliEndpoint": FriendliEndpoint,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "FriendliImageEdit": "Friendli Image Edit",
    "FriendliMultiImageEdit": "Friendli Multi-Image Edit",
    "FriendliImageGenerate": "Friendli Image Generate",
    "FriendliEndpoint": "Friendli Endpoint",
}
