"""FriendliImageEdit (one request per image of a batch) and FriendliMultiImageEdit (one request, many images)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..client.errors import FriendliInputError
from . import framing, host, messages, numbers, validate
from .endpoint import ENDPOINT_TYPE, Endpoint, resolve
from .run import NodeRun, image_request

log = logging.getLogger(__name__)

FORMATS = ["png", "jpeg", "jpg", "raw", "url"]
MATCH_INPUT, ENDPOINT_SIZE = "match input", "endpoint size"
SEED_MAX = 0xFFFFFFFF
MULTI_INPUTS = 6
FAIL, KEEP_ORIGINAL = "fail", "keep original"
ON_FAILURE = [FAIL, KEEP_ORIGINAL]


def creative_inputs(seed_tooltip: str, prompt_tooltip: str = "What to change in the image.") -> dict[str, Any]:
    """The widgets every Friendli image node shares, in the order the node shows them."""
    return {
        "prompt": ("STRING", {"multiline": True, "default": "", "tooltip": prompt_tooltip}),
        "endpoint_id": ("STRING", {"default": "", "tooltip": (
            "Dedicated Endpoint id from Friendli Suite > Endpoints. A connected FriendliEndpoint with a "
            "non-empty endpoint id overrides it. Not needed for a Friendli Container.")}),
        "num_inference_steps": ("INT", {"default": 20, "min": 1, "max": 50, "step": 1, "tooltip": (
            "Denoising steps on the endpoint: more is slower and often finer.")}),
        "guidance_scale": ("FLOAT", {"default": -1.0, "min": -1.0, "max": 100.0, "step": 0.1, "round": 0.01,
                                     "tooltip": ("How closely to follow the prompt. -1 leaves it to the endpoint "
                                                 "(sent as null; a Friendli Container then uses 0).")}),
        "seed": ("INT", {"default": 0, "min": 0, "max": SEED_MAX, "control_after_generate": True,
                         "tooltip": seed_tooltip}),
        "response_format": (FORMATS, {"default": "png", "tooltip": (
            "How the endpoint returns the image. png is lossless; jpeg/jpg are smaller; raw is the endpoint's own "
            "image bytes (PNG, JPEG or WebP, detected); url makes the endpoint return a link that is downloaded "
            "at once. A Friendli Container accepts only jpeg or raw.")}),
    }


def _optional(*, size_tooltip: str, mask_tooltip: str) -> dict[str, Any]:
    return {
        "adapter_route": ("STRING", {"default": "", "tooltip": (
            "Optional LoRA adapter route (sent as ENDPOINT_ID:ADAPTER_ROUTE). A connected FriendliEndpoint "
            "with a non-empty adapter route overrides it.")}),
        "mask": ("MASK", {"tooltip": mask_tooltip}),
        "endpoint": (ENDPOINT_TYPE, {"tooltip": (
            "Optional FriendliEndpoint. When connected, its service, base URL and team are used, and its "
            "endpoint id and adapter route replace this node's widgets when they are non-empty.")}),
        "output_size": ([MATCH_INPUT, ENDPOINT_SIZE], {"default": MATCH_INPUT, "tooltip": size_tooltip}),
    }


def _inputs(image: dict[str, Any], *, seed_tooltip: str, size_tooltip: str, mask_tooltip: str,
            optional_images: dict[str, Any] | None = None) -> dict:
    """INPUT_TYPES shared by both edit nodes; ``image`` holds the required image input(s)."""
    return {
        "required": image | creative_inputs(seed_tooltip),
        "optional": (optional_images or {}) | _optional(size_tooltip=size_tooltip, mask_tooltip=mask_tooltip),
        "hidden": {"unique_id": "UNIQUE_ID"},
    }


class SyncOnOldHosts:
    """ComfyUI before 0.3.45 cannot await a node: there ``FUNCTION`` names ``run_sync``, which runs the
    node's coroutine (``ASYNC_FUNCTION``) to the end (same results; the node then holds the graph while
    it waits). Setup problems are found when the prompt is queued (``VALIDATE_INPUTS``)."""

    ASYNC_FUNCTION = "edit"

    @classmethod
    def VALIDATE_INPUTS(cls, endpoint_id: Any = None, endpoint: Any = validate.NOT_LINKED) -> bool | str:
        # names one field (see nodes/validate.py); the prompt is read from the host's validation, unnamed
        what = "image" if cls.ASYNC_FUNCTION == "generate" else "edit"
        return validate.edit_node(endpoint_id, endpoint, validate.queued_input("prompt"), what)

    def run_sync(self, **inputs: Any) -> Any:
        return asyncio.run(getattr(self, self.ASYNC_FUNCTION)(**inputs))


class FriendliImageEdit(SyncOnOldHosts):
    """Edit every image of a batch with one prompt, one request per image."""

    CATEGORY = "Friendli"
    DESCRIPTION = ("Edits each image of the batch with a FriendliAI Dedicated Endpoint or Friendli Container "
                   "(one request per image, several at once). The API key comes from the FRIENDLI_TOKEN "
                   "environment variable or Settings > Friendli, never from the workflow.")
    # What artists type in the node search (ComfyUI >= 0.33 serves it as search_aliases). Frontends 1.49 and
    # 1.58 match these as sent, in every language, and never look them up in locales/: so the words people
    # type in zh, zh-TW, ja and ko are listed here too (the translated display names are searched already).
    SEARCH_ALIASES = ["edit image", "image edit", "img2img", "image to image", "inpaint", "inpainting", "kontext",
                      "flux kontext", "qwen image edit", "instruct edit", "remote", "cloud", "api", "friendliai",
                      "图生图", "局部重绘", "修图", "圖生圖", "局部重繪", "インペイント", "画像から画像", "인페인팅", "이미지 수정"]
    RETURN_TYPES = ("IMAGE", "STRING", "MASK")
    RETURN_NAMES = ("image", "seeds", "failed")
    OUTPUT_TOOLTIPS = ("The edited images, in the input's batch order and channel count.",
                       "The seed of each image as the endpoint reports it, comma-separated.",
                       "1 over every pixel of an image that failed (kept unchanged with on_failure = keep "
                       "original), 0 elsewhere.")
    FUNCTION = host.node_function("edit")

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        types = _inputs(
            {"image": ("IMAGE", {"tooltip": (
                "Images to edit; each image of the batch is its own request. Sent as RGB: alpha and "
                "single-channel images get their channels back on the result.")})},
            seed_tooltip="Seed of the first image; image i of the batch gets seed + i, so each is reproducible.",
            size_tooltip=("match input: each result is resized (bicubic, antialiased) back to its input's size. "
                          "endpoint size: keep the size the endpoint returns; if results differ, all are resized "
                          "to the first result's size."),
            mask_tooltip=("Optional MASK (1 = edit). The result is composited over the original on this machine, "
                          "mask × edited + (1 − mask) × original, so pixels where the mask is 0 stay unchanged. "
                          "Resized (bilinear) to the image and its batch repeated or cut to the image batch, as "
                          "ImageCompositeMasked does. The endpoint itself never sees the mask."))
        types["optional"]["max_concurrency"] = ("INT", {"default": 4, "min": 1, "max": 16, "step": 1, "tooltip": (
            "How many images of this node are sent at the same time (the endpoint's shared limit in "
            "Settings > Friendli applies on top).")})
        types["optional"]["on_failure"] = (ON_FAILURE, {"default": FAIL, "tooltip": (
            "fail: the node fails when an image still fails after its retries, naming it. keep original: "
            "failed images come back unchanged, the node succeeds with a warning, and the failed output marks "
            "them.")})
        types["optional"] |= framing.inputs("each image")
        return types

    @messages.in_user_language
    async def edit(self, image: Any, prompt: str, endpoint_id: str, num_inference_steps: int,
                   guidance_scale: float, seed: int, response_format: str, adapter_route: str = "",
                   mask: Any = None, endpoint: Endpoint | None = None, output_size: str = MATCH_INPUT,
                   max_concurrency: int = 4, on_failure: str = FAIL, mask_mode: str = framing.WHOLE,
                   crop_context: float = 0.25, crop_megapixels: float = 1.0,
                   max_send_megapixels: float = framing.MAX_SEND_MP, unique_id: Any = None) -> tuple[Any, str, Any]:
        from . import crop, tensors

        numbers.check(self.INPUT_TYPES(), {
            "num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale, "seed": seed,
            "max_concurrency": max_concurrency, "crop_context": crop_context, "crop_megapixels": crop_megapixels,
            "max_send_megapixels": max_send_megapixels})
        image = tensors.check_image(image)
        if mask is not None:
            tensors.check_mask(mask)  # fail before sending anything
        if on_failure not in ON_FAILURE:
            raise FriendliInputError("on_failure", f"{on_failure!r} is not one of {', '.join(ON_FAILURE)}")
        size = tuple(image.shape[1:3]) if output_size == MATCH_INPUT else None
        how = framing.Framing(mask_mode, crop_context, crop_megapixels, max_send_megapixels, size).check(mask)
        target = resolve(endpoint, endpoint_id, adapter_route)
        request = image_request(num_inference_steps, guidance_scale, response_format, prompt, seed, target)
        height, width = image.shape[1:3]

        with NodeRun(target, request, len(image), unique_id, max_concurrency) as node_run:
            def job(index: int) -> Callable[[], tuple[Any, int | None, bool]]:
                def one() -> tuple[Any, int | None, bool]:
                    sent = (int(seed) + index) % (SEED_MAX + 1)
                    def framed() -> Any:
                        own_mask = crop.mask_at(mask, index, height, width) if how.mode == framing.CROP else None
                        return how.frame(image[index], own_mask)

                    frame = node_run.prepare(index, framed)
                    if frame is None:
                        log.warning("Friendli: image %d of %d has an empty mask: nothing was sent, it is "
                                    "unchanged", index + 1, len(image))
                        return image[index], None, True
                    result = node_run.send_framed(index, frame, request.with_seed(sent), (height, width))
                    edited = node_run.cpu(frame.finish, result.image)
                    return edited, sent if result.seed is None else result.seed, frame.composited
                return one

            results = await node_run.execute([job(i) for i in range(len(image))],
                                             keep_failures=on_failure == KEEP_ORIGINAL)
            failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
            for i in failed:
                log.warning("Friendli: image %d of %d failed and was kept unchanged: %s", i + 1, len(image),
                            results[i])
            edited = [image[i] if i in failed else r[0] for i, r in enumerate(results)]
            out = tensors.stack_same_size(edited)
            if mask is not None and how.mode == framing.WHOLE:
                out = tensors.composite(image, out, mask)
            seeds = [r[1] for r in results if not isinstance(r, BaseException) and r[1] is not None]
            return out, node_run.succeed(seeds, failed), tensors.failed_mask(out, failed)


class FriendliMultiImageEdit(SyncOnOldHosts):
    """Send several reference images in one request (the list form of ``image``)."""

    CATEGORY = "Friendli"
    DESCRIPTION = ("Edits with several reference images in ONE request to a FriendliAI Dedicated Endpoint or "
                   "Friendli Container, e.g. 'put the person of image 1 into the scene of image 2'. Inputs may "
                   "differ in size. The API key comes from FRIENDLI_TOKEN or Settings > Friendli.")
    SEARCH_ALIASES = ["multi image edit", "multiple images", "reference images", "combine images", "compose images",
                      "edit image", "img2img", "image to image", "kontext", "qwen image edit", "remote", "cloud",
                      "api", "friendliai", "多图编辑", "参考图", "多圖編輯", "參考圖", "複数画像", "参照画像",
                      "다중 이미지", "참조 이미지"]  # as on FriendliImageEdit
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("image", "seeds")
    OUTPUT_TOOLTIPS = ("The image(s) the endpoint returns.", "The seed(s) the endpoint reports, comma-separated.")
    FUNCTION = host.node_function("edit")

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        note = "Every image of this input's batch is sent, in order, each at its own size."
        more = {f"image_{n}": ("IMAGE", {"tooltip": f"Optional reference image {n}. {note}"})
                for n in range(2, MULTI_INPUTS + 1)}
        types = _inputs(
            {"image_1": ("IMAGE", {"tooltip": f"The first (main) reference image. {note}"})},
            seed_tooltip="Seed of the request.",
            size_tooltip=("match input: the result is resized (bicubic, antialiased) to image_1's size. endpoint "
                          "size: keep the endpoint's size; several results of differing sizes are resized to the "
                          "first one's size."),
            mask_tooltip=("Optional MASK (1 = edit), composited over image_1 on this machine: mask × edited + "
                          "(1 − mask) × image_1, resized and batch-repeated as ImageCompositeMasked does."),
            optional_images=more)
        types["optional"] |= framing.inputs("image_1 only (the other images are sent whole)")
        return types

    @messages.in_user_language
    async def edit(self, image_1: Any, prompt: str, endpoint_id: str, num_inference_steps: int,
                   guidance_scale: float, seed: int, response_format: str, adapter_route: str = "",
                   mask: Any = None, endpoint: Endpoint | None = None, output_size: str = MATCH_INPUT,
                   mask_mode: str = framing.WHOLE, crop_context: float = 0.25, crop_megapixels: float = 1.0,
                   max_send_megapixels: float = framing.MAX_SEND_MP, unique_id: Any = None,
                   **images: Any) -> tuple[Any, str]:
        from . import crop, sizing, tensors

        numbers.check(self.INPUT_TYPES(), {
            "num_inference_steps": num_inference_steps, "guidance_scale": guidance_scale, "seed": seed,
            "crop_context": crop_context, "crop_megapixels": crop_megapixels,
            "max_send_megapixels": max_send_megapixels})
        first = tensors.check_image(image_1, "image_1")
        inputs = [first] + [tensors.check_image(images[f"image_{n}"], f"image_{n}")
                            for n in range(2, MULTI_INPUTS + 1) if images.get(f"image_{n}") is not None]
        if mask is not None:
            tensors.check_mask(mask)  # fail before sending anything
        size = tuple(first.shape[1:3]) if output_size == MATCH_INPUT else None
        how = framing.Framing(mask_mode, crop_context, crop_megapixels, max_send_megapixels, size).check(mask)
        if how.mode == framing.CROP and len(first) != 1:
            raise FriendliInputError("image_1", f"holds {len(first)} images; crop to mask crops one: pass a single "
                                     "image_1, or set mask_mode to whole image")
        target = resolve(endpoint, endpoint_id, adapter_route)
        request = image_request(num_inference_steps, guidance_scale, response_format, prompt, seed, target)

        with NodeRun(target, request, 1, unique_id) as node_run:
            def one() -> tuple[list[Any], list[int], bool]:
                own_mask = crop.mask_at(mask, 0, *first.shape[1:3]) if how.mode == framing.CROP else None
                frame = node_run.prepare(0, how.frame, first[0], own_mask)
                if frame is None:
                    log.warning("Friendli: image_1 has an empty mask: nothing was sent, it is unchanged")
                    return [first[0]], [], True
                others = node_run.encode(lambda: [sizing.cap_size(tensors.to_rgb_uint8(img), max_send_megapixels)
                                                  for batch in inputs for img in batch][1:])
                results = node_run.send(0, [frame.pixels, *others], request)
                if frame.composited:  # a crop: each result is stitched into image_1
                    edited = node_run.cpu(lambda: [frame.finish(r.image) for r in results])
                else:
                    originals = tensors.repeat_to_batch(first, len(results))
                    edited = node_run.cpu(lambda: [tensors.to_result(r.image, originals[i], size)
                                                   for i, r in enumerate(results)])
                return edited, [int(seed) if r.seed is None else r.seed for r in results], frame.composited

            (edited, seeds, composited), = await node_run.execute([one])
            out = tensors.stack_same_size(edited)
            if mask is not None and not composited:
                out = tensors.composite(first, out, mask)
            return out, node_run.succeed(seeds)
