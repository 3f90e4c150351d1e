"""Benchmarks of the pack's own overhead: codec, batch concurrency, graph overlap, memory, import time,
the process memory budget for answers in flight, and a big photo sent whole or cropped to its mask.

    python benchmarks/run.py            # full run (a few minutes), tables for the README
    python benchmarks/run.py --quick    # a smoke run in well under a minute
    python benchmarks/run.py --smoke    # for tests: every path on tiny data (numbers mean nothing)

Prints one Markdown table per section with its target, and writes everything as JSON to
benchmarks/results/latest.json. Real images come from a PyPI wheel (see images.py), fetched once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import budget_bench  # noqa: E402
import bulk_bench  # noqa: E402
import codec_bench  # noqa: E402
import crop_bench  # noqa: E402
import images  # noqa: E402
import node_bench  # noqa: E402
from common import TOKEN, load_pack, sub, table, verdict  # noqa: E402

SECTIONS = ("codec", "batch", "overlap", "memory", "import", "budget", "crop", "bulk")
REPORT: list[str] = []  # the Markdown printed so far, also written next to the JSON


def emit(text: str) -> None:
    print(text, "\n", flush=True)
    REPORT.append(text)


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    versions = {}
    for dist in ("torch", "numpy", "pillow", "imagecodecs", "isal", "pybase64", "fpng", "requests"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "system": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "versions": versions, "load_average_start": os.getloadavg()}


def describe(m: dict) -> str:
    v = m["versions"]
    return (f"Machine: {m['cpu']}, {m['cores']} cores, {m['system']}; Python {m['python']}, torch {v['torch']} "
            f"({m['torch_threads']} threads), numpy {v['numpy']}, Pillow {v['pillow']}, imagecodecs {v['imagecodecs']}, "
            f"isal {v.get('isal')}, pybase64 {v.get('pybase64')}, fpng {v.get('fpng')}; "
            f"load average at start {m['load_average_start'][0]:.2f}.")


def print_codec(result: dict) -> None:
    headers = ["path", "request ms", "request KB", "in batch of 4 ms", "response ms", "response image KB",
               "in batch of 4 ms", "round trip ms", "vs naive"]
    for size, block in result["sizes"].items():
        base = block["rows"][0]["round_trip_ms"]
        rows = [[r["row"], r.get("request_ms"), r.get("request_bytes", 0) / 1024 or None, r.get("request_batch4_ms"),
                 r["response_ms"], r["response_image_bytes"] / 1024, r.get("response_batch4_ms"), r.get("round_trip_ms"),
                 f"{r['round_trip_ms'] / base:.2f}x" if "round_trip_ms" in r else None] for r in block["rows"]]
        emit(table(f"Codec, {size}x{size}, per image (median of {block['images']} images)", headers, rows))
        if "stages" in block:
            writer = result.get("png_encoder") or result["fast_codecs"] or "Pillow"
            emit(table(f"PNG round trip by stage, {size}x{size} (pack's PNG: {writer}; "
                       f"tensor functions: {result['tensor_functions']})", ["stage", "naive ms", "pack ms"],
                       [[s["stage"], s["naive_ms"], s["pack_ms"]] for s in block["stages"]]))
    t = result["target"]
    if t:
        payload = (f"{t['payload_ratio']:.2f}x (all bytes {t['payload_ratio_total']:.2f}x, "
                   f"worst image {t['payload_ratio_worst']:.2f}x)")
        emit(table(f"Codec target ({t['size']}x{t['size']} PNG, medians of per-image ratios)",
                   ["path", "round trip vs naive", "payload vs naive", "target", "result"],
                   [[t["row"], f"{t['time_ratio']:.2f}x", payload, "≤ 0.25x time, ≤ 1.15x payload",
                     verdict(t["pass"])]]))
    for text in codec_bench.encoder_tables(result["encoder"]) if "encoder" in result else []:
        emit(text)


def print_batch(result: dict) -> None:
    rows = [[f"{r['size']}x{r['size']}", r["concurrency"], r["wall_s"], r["ideal_s"], f"{100 * r['over_ideal']:+.1f} %",
             "≤ +10 %", verdict(r["pass"])] for r in result["rows"]]
    emit(table(f"Batch: {result['images']} images through FriendliImageEdit (png), endpoint latency {result['latency']} s, "
               f"best of {result['reps']}",
               ["images", "concurrency", "wall s", "ideal s", "over ideal", "target", "result"], rows))


def print_overlap(result: dict) -> None:
    over = f"{100 * result['over_ideal']:+.1f} %"
    emit(table(f"Graph overlap: 2 remote FriendliImageEdit branches (1 image each, {result['size']}x{result['size']}) "
               f"+ 1 local branch, each {result['latency']} s, on one event loop as ComfyUI runs them, "
               f"best of {result['reps']}",
               ["wall s", "ideal s (one latency)", "one at a time s (3 latencies)", "one at a time, measured s",
                "over ideal", "target", "result"],
               [[result["wall_s"], result["ideal_s"], result["one_at_a_time_s"], result["one_at_a_time_measured_s"],
                 over, "≤ +10 %", verdict(result["pass"])]]))


def print_memory(result: dict) -> None:
    mib = lambda n: n / 2**20  # noqa: E731
    emit(table(f"Memory: batch of {result['batch']} at {result['size']}x{result['size']} through FriendliImageEdit",
               ["float32 in + out MiB", "peak above inputs MiB", "peak above imports MiB", "target", "result"],
               [[mib(result["tensor_bytes"]), mib(result["peak_above_inputs"]), mib(result["peak_above_imports"]),
                 "above imports < 3x in + out", verdict(result["pass"])]]))


def print_import(result: dict) -> None:
    emit(table("Import of the pack after torch, numpy, PIL, requests (fresh process)",
               ["median ms", "min ms", "runs", "modules added outside the pack", "target", "result"],
               [[result["median_ms"], result["min_ms"], result["runs"], result["other_modules"], "< 100 ms",
                 verdict(result["pass"])]]))


def print_budget(result: dict) -> None:
    mib = lambda n: n / 2**20  # noqa: E731
    bound, normal = result["bound"], result["normal"]
    emit(table(f"Memory budget: {bound['requests']} answers of {mib(bound['answer_bytes']):.0f} MiB (JSON) through "
               f"FriendliImageEdit at max_concurrency {bound['concurrency']}, fresh process per row",
               ["budget", "peak RSS growth MiB", "wall s", "budget peak MiB", "target", "result"],
               [[f"{r['budget_mib']} MiB" + (" (off)" if r["budget_mib"] == budget_bench.OFF_MIB else ""),
                 mib(r["growth_bytes"]), r["wall_s"], mib(r["budget_peak_bytes"]),
                 "< 1024 MiB" if i == 0 else "—", verdict(bound["pass"]) if i == 0 else "—"]
                for i, r in enumerate(bound["rows"])]))
    emit(table(f"Memory budget, normal batch: {normal['images']} images of {normal['size']}x{normal['size']} at "
               f"concurrency {normal['concurrency']}, latency {normal['latency']} s, best of {normal['reps']}, alternating",
               ["budget", "wall s", "all runs s", "budget peak MiB", "target", "result"],
               [[f"{r['budget_mib']} MiB", r["wall_s"], " ".join(f"{w:.2f}" for w in r["walls_s"]),
                 mib(r["budget_peak_bytes"]),
                 f"within 5 % of off ({100 * normal['difference']:+.1f} %), peak < budget" if i == 0 else "—",
                 verdict(normal["pass"]) if i == 0 else "—"] for i, r in enumerate(normal["rows"])]))
    if "peak" in result:
        emit(budget_bench.peak_table(result["peak"]))


def print_crop(result: dict) -> None:
    width, height = result["size"]
    rows = []
    for r in result["rows"]:
        how = (f"crop to mask ({r['crop_megapixels']:g} MP)" if r["mask_mode"] == "crop to mask" else
               f"whole image, cap {r['max_send_megapixels']:g} MP" if r["max_send_megapixels"] else
               "whole image, no cap")
        sent = "×".join(map(str, r["sent_size"])) if r.get("sent_size") else "nothing"
        if "refused" in r:
            rows.append([how, sent, r["body_bytes"] / 2**20, "refused: " + r["refused"], "—", "—", "—", "—", "—"])
            continue
        rows.append([how, sent, r["body_bytes"] / 2**20, r["first_s"], r["wall_s"], r["mae_inside"],
                     r["block_mae_inside"], r["max_error_outside"], verdict(r["pass"])])
    emit(table(f"Crop: a {width}x{height} photo, mask {100 * result['mask_share']:.1f} % of the frame, through "
               f"FriendliImageEdit (png) against the emulator (latency 0); error against the stand-in edit of "
               f"the full-resolution original (the edit itself changes the masked pixels by "
               f"{result['rows'][0].get('edit_inside', float('nan')):.1f} on average)",
               ["sent", "image sent", "request MiB", "first run s", f"node s (cached, best of {result['reps']})",
                "mean error inside mask (0..255)", "same, of 8x8 block means", "max change outside mask",
                "outside = 0"], rows))


def print_bulk(result: dict) -> None:
    mib = lambda n: n / 2**20  # noqa: E731
    rows = [[f"{r['images']:,}", f"{r['size']}²", r["concurrency"], r["latency"], r["wall_s"], r["ideal_s"],
             f"{100 * r['efficiency']:.0f} %", mib(r["rss_after_imports_bytes"]), mib(r["peak_rss_bytes"]),
             r["cpu_ms_per_image"], f"{r['request_s_median']:.2f} / {r['request_s_max']:.2f}",
             f"{r['requests']}/{r['written']}" + (f" ({r['failed']} failed)" if r["failed"] else "")]
            for r in result["rows"]]
    first, last = result["rss_ratio_of"]
    emit(table(f"Bulk: friendli-edit FOLDER --out-dir DIR (PNG in, png out) against the emulator process, a fresh "
               f"process per row; peak RSS {last:,} / {first:,} images = {result['rss_ratio']:.2f} "
               f"(target ≤ 1.3), wall ≥ 90 % of ideal: {verdict(result['pass'])}",
               ["images", "size", "concurrency", "latency s", "wall s", "ideal s (N/c × latency)", "ideal / wall",
                "RSS after imports MiB", "peak RSS MiB", "client CPU ms/image", "request s, median / max",
                "sent/written"], rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few images, one repetition, short latency, small "
                        "memory batch, no batch-of-4 codec timing at 2048")
    parser.add_argument("--smoke", action="store_true", help="implies --quick; for tests: every path on tiny data "
                        "(codec at 256 and 512, a 0.55 MP crop frame, 2 MiB budget answers, 0.1 s latency)")
    parser.add_argument("--synthetic", action="store_true", help="generated images instead of the PyPI templates "
                        "(no network; for tests)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset of " + ", ".join(SECTIONS))
    parser.add_argument("--images", type=int, help="1024x1024 images for the codec section (default 35, quick 2)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "latest.json")
    args = parser.parse_args(argv)
    sections = [s for s in args.sections.split(",") if s]
    if unknown := set(sections) - set(SECTIONS):
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    smoke = args.smoke
    quick = args.quick or smoke
    result: dict = {"quick": quick, "smoke": smoke, "machine": machine(), "images": "synthetic" if args.synthetic else images.SOURCE}
    emit(describe(result["machine"]))
    pack = load_pack()
    started = time.monotonic()
    if "codec" in sections:
        count = args.images or (2 if quick else 35)
        small, large = (256, 512) if smoke else (1024, 2048)
        by_size = {small: images.load(count, small, args.synthetic),
                   large: images.load(1 if quick else 4, large, args.synthetic)}
        with sub(pack, "emulator").Emulator(token=TOKEN, endpoints=("bench",)) as emulator:
            result["codec"] = codec_bench.run(pack, emulator, by_size, reps=1 if quick else 3,
                                              batch4_sizes=(small,) if quick else (small, large))
        print_codec(result["codec"])
    if "batch" in sections or "overlap" in sections:  # one child process and one emulator for both
        edits = node_bench.edits(latency=0.1 if smoke else 0.25 if quick else 1.0,
                                 sizes=([64] if smoke else [256] if quick else [1024, 256])
                                 if "batch" in sections else [],
                                 synthetic=args.synthetic, reps=1 if quick else 3,
                                 overlap_size=(64 if smoke else 256 if quick else 1024)
                                 if "overlap" in sections else None)
        if "batch" in sections:
            result["batch"] = edits["batch"]
            "rows" in result["batch"] and print_batch(result["batch"])
        if "overlap" in sections:
            result["overlap"] = edits["overlap"]
            "pass" in result["overlap"] and print_overlap(result["overlap"])
    if "memory" in sections:
        result["memory"] = node_bench.memory(size=256 if smoke else 512 if quick else 2048, synthetic=args.synthetic)
        "pass" in result["memory"] and print_memory(result["memory"])
    if "import" in sections:
        result["import"] = node_bench.import_time(runs=1 if quick else 9)
        print_import(result["import"])
    if "budget" in sections:
        result["budget"] = budget_bench.run(quick=quick, synthetic=args.synthetic, smoke=smoke)
        "bound" in result["budget"] and print_budget(result["budget"])
    if "crop" in sections:
        result["crop"] = crop_bench.run(quick=quick, synthetic=args.synthetic, smoke=smoke)
        "rows" in result["crop"] and print_crop(result["crop"])
    if "bulk" in sections:
        result["bulk"] = bulk_bench.run(quick=quick, synthetic=args.synthetic)
        print_bulk(result["bulk"])
    for name in SECTIONS:
        if isinstance(result.get(name), dict) and "skipped" in result[name]:
            print(f"{name}: skipped: {result[name]['skipped']}")
    result["machine"]["load_average_end"] = os.getloadavg()
    result["seconds"] = time.monotonic() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))
    args.out.with_suffix(".md").write_text("\n\n".join(REPORT) + f"\n\nLoad average at the end: "
                                           f"{result['machine']['load_average_end'][0]:.2f}.\n")
    print(f"wrote {args.out} in {result['seconds']:.0f} s (load {result['machine']['load_average_end'][0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
