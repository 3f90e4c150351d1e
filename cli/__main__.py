"""``python -m comfyui_friendli.cli`` = ``friendli-edit``."""

import sys

from .main import main

sys.exit(main())
