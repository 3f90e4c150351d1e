"""Setup problems found when the prompt is queued (the host's ``VALIDATE_INPUTS``), before anything
runs: ComfyUI shows them in its own dialog with the node highlighted. Messages use the words of the
UI and point at the exact field or setting. Each check returns True or the message.

ComfyUI reports a failing validator once for every input its signature names (each entry titled with
that input's name), with the one message it returned; ``input_types`` and named hidden inputs become
entries too, and nothing else it passes holds the other widgets' values (hidden ``PROMPT`` is ``{}``
while validating; ComfyUI 0.3.30 … 0.33). So each validator names exactly one input and says all its
node's problems at once (first round), one line each starting with its field's label: on the edit and
generate nodes ``endpoint_id`` (``endpoint_id: …`` an empty id, ``prompt: …`` an empty prompt,
``API key (Settings > Friendli): …`` no key); on the Friendli Endpoint node ``service``. The prompt is
read from the host's own ``validate_inputs`` frame (its ``inputs``, the queued node's values: same in
every version above); where that is not found the run-time check (before anything is sent) tells it.
The web extension (web/friendli-errors.js) shows each line under its own field. An untrusted base URL
is told when the node runs, naming ``base_url``.
"""

from __future__ import annotations

import sys
from typing import Any

from ..client import config
from ..client.config import DEDICATED, SERVICES
from ..client.errors import FriendliConfigError
from . import host
from .messages import localized, translate

NOT_LINKED = "(not linked)"  # the default of a link input VALIDATE_INPUTS names: absent = not linked
NO_KEY = ("No Friendli API key is set. Open Settings > Friendli > API key, paste your key and press Save "
          "(Friendli Suite > Settings > Tokens makes one), or set FRIENDLI_TOKEN where ComfyUI starts.")
EMPTY_ENDPOINT = ("is empty. Paste your endpoint id into this field (Friendli Suite > Endpoints > "
                  "your endpoint > the id beside its name), or connect a Friendli Endpoint node.")
EMPTY_PROMPT = "is empty. Describe the {} you want in this field."
KEY_LABEL = "API key (Settings > Friendli)"


def problem(label: str, message: str, kind: str) -> str:
    """One line: the field's label, the translated title (other languages) and the English message."""
    return f"{label}: {localized(message, kind).replace(chr(10), ' · ')}"


def queued_input(name: str) -> Any:
    """The value of input ``name`` of the node being validated, from the host's ``validate_inputs`` frame
    (its ``inputs``: the queued prompt's values for this node); None outside it."""
    frame = sys._getframe(1)
    try:
        for _ in range(8):
            frame = frame.f_back
            if frame is None:
                return None
            if frame.f_code.co_name == "validate_inputs" and frame.f_globals.get("__name__") == "execution":
                inputs = frame.f_locals.get("inputs")
                return inputs.get(name) if isinstance(inputs, dict) else None
        return None
    finally:
        del frame


def key_configured() -> bool:
    """An API key in FRIENDLI_TOKEN or saved in Settings > Friendli."""
    token, _ = config.resolve_token(None, config.read_credentials(host.credentials_path()))
    return token is not None


def edit_node(endpoint_id: Any, endpoint: Any, prompt: Any = None, what: str = "edit") -> bool | str:
    """An edit or generate node: a prompt (a linked one has no value yet and is not checked) and, without a
    linked Friendli Endpoint (which checks itself), an endpoint id and a key. One labelled line a problem."""
    problems = []
    if endpoint == NOT_LINKED and isinstance(endpoint_id, str) and not endpoint_id.strip():
        problems.append(problem("endpoint_id", EMPTY_ENDPOINT, "empty_endpoint"))
    if isinstance(prompt, str) and not prompt.strip():
        problems.append(problem("prompt", EMPTY_PROMPT.format(what), "empty_prompt"))
    if endpoint == NOT_LINKED and not key_configured():
        problems.append(problem(KEY_LABEL, NO_KEY, "no_key"))
    return "\n".join(problems) or True


def endpoint_node(service: Any) -> bool | str:
    """A Friendli Endpoint node: a known service, and for a dedicated endpoint a key."""
    if service not in SERVICES:
        return f"service must be one of {', '.join(SERVICES)}"
    if service == DEDICATED and not key_configured():
        return problem(KEY_LABEL, NO_KEY, "no_key")
    return True


def check_base_url(service: str, base_url: str) -> None:
    """A dedicated endpoint's base URL must be one that may receive the key; FriendliConfigError naming
    ``base_url`` and the fix otherwise. Empty = FRIENDLI_BASE_URL or the default host."""
    if service != DEDICATED or not base_url.strip():
        return
    try:
        config.check_key_destination(config.validate_base_url(base_url), host.preferences().trusted_hosts)
    except FriendliConfigError as exc:
        translate(exc)  # it names base_url and the fix
        raise
