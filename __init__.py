"""comfyui-friendli: edit images with a FriendliAI Dedicated Endpoint or Friendli Container from ComfyUI.

ComfyUI imports this folder under whatever name it has, so every import here is
relative. Importing does no network I/O and needs no torch until a node runs.
"""

import sys


def _register_routes() -> None:
    """Add the /friendli/* routes and the queued-prompt hook to ComfyUI's server, only inside ComfyUI."""
    server = getattr(sys.modules.get("server"), "PromptServer", None)
    instance = getattr(server, "instance", None)
    if instance is not None and hasattr(instance, "routes"):
        from .nodes.routes import register
        from .nodes.wake import on_prompt

        register(instance)
        if hasattr(instance, "add_on_prompt_handler"):
            instance.add_on_prompt_handler(on_prompt)  # wake dedicated endpoints when a prompt is queued


# ComfyUI and pip import this file as a package. pytest, collecting the checkout, runs it as a bare
# module with no package (the folder name may be no identifier); then there is nothing to load.
if __package__:
    from .client.version import __version__
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    WEB_DIRECTORY = "./web"
    __all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY", "__version__"]
    _register_routes()
