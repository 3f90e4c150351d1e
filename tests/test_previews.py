"""Live previews and the sent size on the progress line (nodes/progress.py, nodes/preview.py), observed
through FakeHost's ProgressBar: previews are made on the CPU pool, sent by the run's thread, once per
finished image, and dropped (never queued) while one is being made or while the pool is busy."""

from __future__ import annotations

import importlib
import threading
import time

import numpy as np
import pytest
import torch

from helpers import photo, wait_until


@pytest.fixture(scope="module")
def preview(pack):
    return importlib.import_module(pack.__name__ + ".nodes.preview")


@pytest.fixture(scope="module")
def scheduler(pack):
    return importlib.import_module(pack.__name__ + ".client.scheduler")


@pytest.fixture(autouse=True)
def idle_pool(scheduler):
    """Start with no job waiting in the shared CPU pool (an earlier test's work may still be queued there,
    and a preview is dropped, by design, while jobs wait)."""
    waiting = scheduler.cpu_pool()._work_queue
    assert wait_until(lambda: waiting.qsize() == 0, 30)


def solid(value: int, width: int = 64, height: int = 48) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def delivered(progress, fake_host, count: int) -> bool:
    """Poll (as the run's thread does) until ``count`` previews reached the host."""
    return wait_until(lambda: progress.poll() or len(fake_host.previews) >= count, timeout=5)


def test_preview_image_is_small_rgb(preview):
    for image in (photo(2000, 1000), photo(300, 600, channels=4), photo(100, 80, channels=1),
                  torch.rand(3000, 2000, 3)):
        picture = preview.preview_image(image)
        assert picture.mode == "RGB" and max(picture.size) <= 512
    assert preview.preview_image(photo(2000, 1000)).size == (512, 256)
    assert preview.preview_image(photo(100, 80)).size == (100, 80)  # never enlarged


def test_a_preview_per_finished_image_sent_by_the_run_thread(nodes, fake_host, client_pkg):
    from importlib import import_module

    run_jobs = import_module(client_pkg.__name__ + ".runner").run_jobs
    progress = nodes.progress.BatchProgress(3, "12")
    makers: list[str] = []
    made = progress.make_preview

    def watched(image):
        makers.append(threading.current_thread().name)
        return made(image)

    progress.make_preview = watched

    def job(index: int):
        def one():
            time.sleep(0.05 + 0.3 * index)  # one after another, as answers land
            assert progress.preview(solid(40 * (index + 1)))
            time.sleep(0.25)  # the rest of the job (to_result) while the preview is made
            return index
        return one

    run_jobs([job(i) for i in range(3)], workers=3, cancel=progress.poll,
             on_done=lambda index, value: progress.image_done())
    progress.report_done([1, 2, 3])
    assert [(value, total) for value, total, _ in fake_host.previews] == [(0, 3), (1, 3), (2, 3)]
    colours = []
    for _, _, (kind, picture, side) in fake_host.previews:
        assert kind == "JPEG" and side == 512 and picture.mode == "RGB"
        colours.append(picture.getpixel((0, 0))[0])
    assert colours == [40, 80, 120]  # each image once, in the order they finished
    assert all(name.startswith("friendli-cpu") for name in makers) and len(makers) == 3
    assert fake_host.bar[-1] == (3, 3)


def test_a_preview_is_sent_only_when_the_run_thread_polls(nodes, fake_host):
    progress = nodes.progress.BatchProgress(1, "3")
    assert progress.preview(solid(10))
    assert wait_until(lambda: not progress._preview_busy)
    time.sleep(0.05)
    assert fake_host.previews == []  # made, but the worker never calls the host's hook itself
    progress.poll()
    assert len(fake_host.previews) == 1
    progress.poll()
    assert len(fake_host.previews) == 1  # sent once


def test_previews_are_dropped_not_queued_while_one_is_being_made(nodes, fake_host):
    progress = nodes.progress.BatchProgress(4, "5")
    gate = threading.Event()
    seen: list[int] = []

    def slow(image):
        seen.append(int(image[0, 0, 0]))
        gate.wait(5)
        return nodes.progress.preview_image(image)

    progress.make_preview = slow
    assert progress.preview(solid(1)) is True
    assert wait_until(lambda: seen == [1])
    assert [progress.preview(solid(v)) for v in (2, 3, 4)] == [False, False, False]  # dropped at once
    progress.poll()
    assert fake_host.previews == []
    gate.set()
    assert delivered(progress, fake_host, 1)
    time.sleep(0.2)
    progress.poll()
    assert seen == [1] and len(fake_host.previews) == 1  # 2, 3 and 4 were never made later
    assert progress.preview(solid(5)) is True  # free again
    assert delivered(progress, fake_host, 2) and seen == [1, 5]


def test_previews_are_dropped_while_the_cpu_pool_has_work_waiting(nodes, fake_host, scheduler):
    progress = nodes.progress.BatchProgress(1, "5")
    calls: list[object] = []
    progress.make_preview = lambda image: calls.append(image)
    gate = threading.Event()
    pool = scheduler.cpu_pool()
    blockers = [pool.submit(gate.wait, 5) for _ in range(scheduler.cores() + 2)]  # every thread busy, 2 waiting
    try:
        assert wait_until(lambda: pool._work_queue.qsize() > 0)
        assert progress.preview(solid(1)) is False
    finally:
        gate.set()
        for blocker in blockers:
            blocker.result(5)
    assert calls == [] and not progress._preview_busy
    assert progress.preview(solid(2)) is True


def test_a_failing_preview_is_dropped_and_the_next_one_goes(nodes, fake_host):
    progress = nodes.progress.BatchProgress(2, "5")
    progress.make_preview = lambda image: 1 / 0
    assert progress.preview(solid(1))
    assert wait_until(lambda: not progress._preview_busy)
    progress.poll()
    assert fake_host.previews == []
    progress.make_preview = nodes.progress.preview_image
    assert progress.preview(solid(2)) and delivered(progress, fake_host, 1)


def test_no_previews_outside_comfyui(nodes):
    progress = nodes.progress.BatchProgress(1, "5")
    progress.make_preview = lambda image: pytest.fail("no preview is made without a host")
    assert progress.preview(solid(1)) is False


def test_hosts_before_0_3_45_get_previews_too(nodes, fake_host, monkeypatch):
    """No node_id there, but the node runs synchronously (run_sync) and is the executing node, so the
    host's preview (sent without a node id) lands on it, like the progress bar."""
    got: list[tuple] = []

    class OldProgressBar:
        def __init__(self, total):
            self.total = total

        def update_absolute(self, value, total=None, preview=None):
            if preview is not None:
                got.append(preview)

    monkeypatch.setattr(fake_host.modules["comfy.utils"], "ProgressBar", OldProgressBar)
    progress = nodes.progress.BatchProgress(1, "5")
    assert progress.preview(solid(1))
    assert wait_until(lambda: progress.poll() or got)
    assert got[0][0] == "JPEG"


def test_sent_size_on_the_progress_line(nodes, fake_host):
    progress = nodes.progress.BatchProgress(2, "9")
    progress.start()
    assert "sent" not in fake_host.progress_events()[0] and "sent at" not in fake_host.texts[-1][0]
    threading.Thread(target=progress.sent_size, args=(1024, 768)).start()  # from a worker thread
    time.sleep(0.05)
    progress.report_done([1, 2])
    event = fake_host.progress_events()[-1]
    assert event["sent"] == "1024×768" and event["state"] == "done"
    assert "· sent at 1024×768" in fake_host.texts[-1][0]
