"""One node run: the client, the concurrent requests, progress, interruption and errors."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from ..client.api import EditedImage, FriendliImageClient, ImageLike
from ..client.config import DEDICATED, MISSING_TOKEN_HELP
from ..client.errors import FriendliCancelledError, FriendliConfigError
from ..client.runner import OrderedSlots, run_jobs
from . import host
from .endpoint import Endpoint
from .progress import BatchProgress

T = TypeVar("T")


def request_params(steps: int, guidance_scale: float, response_format: str) -> dict[str, Any]:
    """The client's keyword arguments for the shared widgets (a negative guidance = leave it to the endpoint)."""
    guidance = None if guidance_scale is None or guidance_scale < 0 else float(guidance_scale)
    return {"num_inference_steps": int(steps), "guidance_scale": guidance, "response_format": response_format}


class EditRun:
    """The client and the progress of one node execution; ``run`` sends the jobs."""

    def __init__(self, endpoint: Endpoint, total: int, node_id: Any, concurrency: int = 1) -> None:
        self.endpoint = endpoint
        self.concurrency = max(1, int(concurrency))
        self._slots = OrderedSlots(self.concurrency)  # requests in flight, sent in job order
        self.progress = BatchProgress(total, node_id)
        self.client = FriendliImageClient(service=endpoint.service, base_url=endpoint.base_url or None,
                                          team=endpoint.team or None, credentials_path=host.credentials_path(),
                                          on_event=self.progress.on_client_event)
        self._stop = threading.Event()  # set when the run ends, so abandoned requests stop waiting

    def check(self, prompt: str, **params: Any) -> None:
        """Fail before sending anything: missing key, and every field the client validates."""
        if self.client.settings.service == DEDICATED and not self.client.settings.token:
            raise FriendliConfigError(MISSING_TOKEN_HELP)
        self.client.build_body(np.zeros((1, 1, 3), np.uint8), prompt, endpoint_id=self.endpoint.endpoint_id,
                               adapter_route=self.endpoint.adapter_route, **params)

    def edit(self, image: ImageLike | Sequence[ImageLike], prompt: str, index: int = 0,
             **params: Any) -> list[EditedImage]:
        """Request ``index`` of the run (a list image = one multi-image request), abandoned once the run ends.

        The body is encoded before the request waits for one of the run's ``concurrency`` slots, so
        the next requests are ready the moment a slot frees; decoding happens after the slot is freed.
        """
        body = self.client.build_body(image, prompt, endpoint_id=self.endpoint.endpoint_id,
                                      adapter_route=self.endpoint.adapter_route, **params)
        with self._slots.slot(index, self._stop.is_set):
            return self.client.send(body, cancel=self._stop.is_set)

    def run(self, jobs: Sequence[Callable[[], T]]) -> list[T]:
        """Run the jobs (twice ``concurrency`` threads: half of them prepare the next requests) with
        progress; raise the host's interruption when cancelled."""
        self.progress.start()
        try:
            return run_jobs(jobs, workers=2 * self.concurrency, cancel=self._poll,
                            on_done=lambda index, result: self.progress.image_done())
        except BaseException as exc:
            cancelled = isinstance(exc, FriendliCancelledError) or host.is_interruption(exc)
            self.progress.fail(exc, cancelled)
            if isinstance(exc, FriendliCancelledError):
                host.raise_interrupted(exc)
            raise
        finally:
            self._stop.set()
            self.client.close()

    def finish(self, seeds: list[int]) -> str:
        """Report success; the seeds as the node's STRING output."""
        self.progress.finish(seeds)
        return ", ".join(str(s) for s in seeds)

    def _poll(self) -> bool:
        self.progress.poll()
        return host.interrupted()
