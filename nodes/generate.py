"""FriendliImageGenerate: text to image on the endpoint (``…/images/generations``), optionally
conditioned on up to CONTROLS control images, ``count`` requests with seeds seed, seed + 1, …"""

from __future__ import annotations

import logging
from typing import Any

from ..client.errors import FriendliInputError
from ..client.request import GENERATE
from . import host, messages, numbers
from .edit import FAIL, SEED_MAX, SyncOnOldHosts, creative_inputs
from .endpoint import ENDPOINT_TYPE, Endpoint, resolve
from .run import NodeRun, image_request

log = logging.getLogger(__name__)

CONTROLS = 4
MAX_COUNT = 16
SKIP_FAILED = "skip failed"
ON_FAILURE = [FAIL, SKIP_FAILED]


class FriendliImageGenerate(SyncOnOldHosts):
    """Generate images from a prompt, optionally guided by control images."""

    CATEGORY = "Friendli"
    DESCRIPTION = ("Generates images from a prompt with a FriendliAI Dedicated Endpoint or Friendli Container, "
                   "optionally guided by up to 4 control images (ControlNet), one request per image. The API key "
                   "comes from the FRIENDLI_TOKEN environment variable or Settings > Friendli, never from the "
                   "workflow.")
    SEARCH_ALIASES = ["text to image", "txt2img", "t2i", "generate image", "image generation", "controlnet",
                      "control image", "flux", "remote", "cloud", "api", "friendliai", "文生图", "文生圖",
                      "テキストから画像", "텍스트로 이미지"]  # as on FriendliImageEdit (nodes/edit.py)
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("image", "seeds")
    OUTPUT_TOOLTIPS = ("The generated images, in request order (differing sizes are resized to the first's).",
                       "The seed of each image as the endpoint reports it, comma-separated.")
    ASYNC_FUNCTION = "generate"
    FUNCTION = host.node_function("generate")

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        controls: dict[str, Any] = {}
        for n in range(1, CONTROLS + 1):
            controls[f"control_image_{n}"] = ("IMAGE", {"tooltip": (
                f"Optional control image {n} (e.g. a pose, depth or edge map) that guides the generation. With "
                "a batch, request i uses its image i (cycling).")})
            controls[f"control_weight_{n}"] = ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                                         "tooltip": f"How strongly control image {n} guides the "
                                                                    "generation, 0..1 (1 = fully)."})
        return {
            "required": creative_inputs(
                "Seed of the first image; image i gets seed + i, so each is reproducible.",
                "What to generate."),
            "optional": controls | {
                "count": ("INT", {"default": 1, "min": 1, "max": MAX_COUNT, "step": 1, "tooltip": (
                    "How many images to generate: one request each, with seeds seed, seed + 1, ...")}),
                "endpoint": (ENDPOINT_TYPE, {"tooltip": (
                    "Optional FriendliEndpoint. When connected, its service, base URL and team are used, and its "
                    "endpoint id and adapter route replace this node's when they are non-empty.")}),
                "adapter_route": ("STRING", {"default": "", "tooltip": (
                    "Optional LoRA adapter route (sent as ENDPOINT_ID:ADAPTER_ROUTE).")}),
                "max_concurrency": ("INT", {"default": 4, "min": 1, "max": 16, "step": 1, "tooltip": (
                    "How many requests of this node are sent at the same time (the endpoint's shared limit in "
                    "Settings > Friendli applies on top).")}),
                "on_failure": (ON_FAILURE, {"default": FAIL, "tooltip": (
                    "fail: the node fails when an image still fails after its retries, naming it. skip failed: "
                    "the images that succeeded come out (the batch is shorter) and a warning names the others.")}),
            },
            "hidden": {"unique_id": "UNIQUE_ID"},
        }

    @messages.in_user_language
    async def generate(self, prompt: str, endpoint_id: str, num_inference_steps: int, guidance_scale: float,
                       seed: int, response_format: str, count: int = 1, endpoint: Endpoint | None = None,
                       adapter_route: str = "", max_concurrency: int = 4, on_failure: str = FAIL,
                       unique_id: Any = None, **controls: Any) -> tuple[Any, str]:
        from . import tensors

        numbers.check(self.INPUT_TYPES(), {
            "num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale, "seed": seed,
            "count": count, "max_concurrency": max_concurrency,
            **{name: value for name, value in controls.items() if name.startswith("control_weight_")}})
        count = int(count)
        if on_failure not in ON_FAILURE:
            raise FriendliInputError("on_failure", f"{on_failure!r} is not one of {', '.join(ON_FAILURE)}")
        images, weights = control_inputs(controls)
        target = resolve(endpoint, endpoint_id, adapter_route)
        request = image_request(num_inference_steps, guidance_scale, response_format, prompt, seed, target,
                                kind=GENERATE, controlnet_weights=tuple(weights) if images else None)

        with NodeRun(target, request, count, unique_id, max_concurrency) as node_run:
            def job(index: int) -> Any:
                def one() -> tuple[Any, int]:
                    sent = (int(seed) + index) % (SEED_MAX + 1)
                    pixels = node_run.prepare(index, lambda: [tensors.to_rgb_uint8(b[index % len(b)]) for b in images])
                    results = node_run.send(index, pixels, request.with_seed(sent))
                    if len(results) > 1:
                        log.warning("Friendli: the endpoint returned %d images for request %d; using the first",
                                    len(results), index + 1)
                    first = results[0]
                    node_run.preview(first.image)
                    image = node_run.cpu(tensors.from_uint8, first.image)
                    return image, sent if first.seed is None else first.seed
                return one

            results = await node_run.execute([job(i) for i in range(count)], keep_failures=on_failure == SKIP_FAILED)
            failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
            for i in failed:
                log.warning("Friendli: image %d of %d failed and was skipped: %s", i + 1, count, results[i])
            done = [r for r in results if not isinstance(r, BaseException)]
            if not done:
                raise results[0]
            seeds = [r[1] for r in done]
            return tensors.stack_same_size([r[0] for r in done]), node_run.succeed(seeds, failed, "skipped")


def control_inputs(controls: dict[str, Any]) -> tuple[list[Any], list[float]]:
    """The connected control images (checked) and their weights, in slot order. A weight set away from
    1.0 on a slot without an image is an error: it would be silently ignored."""
    from . import tensors

    images, weights = [], []
    for n in range(1, CONTROLS + 1):
        image, weight = controls.get(f"control_image_{n}"), controls.get(f"control_weight_{n}", 1.0)
        numbers.number(f"control_weight_{n}", weight, 0, 1)
        if image is None:
            if weight != 1.0:
                raise FriendliInputError(f"control_weight_{n}", f"is {weight:g} but control_image_{n} is not "
                                         "connected; connect a control image or set the weight back to 1")
            continue
        images.append(tensors.check_image(image, f"control_image_{n}"))
        weights.append(float(weight))
    unknown = sorted(set(controls) - {f"control_{k}_{n}" for k in ("image", "weight") for n in range(1, CONTROLS + 1)})
    if unknown:
        raise FriendliInputError(unknown[0], "is not an input of Friendli Image Generate")
    return images, weights
