"""``python -m comfyui_friendli.emulator --port 8080 --token T``: serve the emulator until Ctrl-C."""

import sys

from .cli import main

sys.exit(main())
