"""MediaPipe's graph with two frames in it gives what `Holistic.process` gives one at a time."""

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from test_extractor_process import frames  # noqa: E402

from signd.daemon.keypoints import HolisticExtractor, new_holistic  # noqa: E402
from signd.daemon.landmarks import landmarks_to_vector  # noqa: E402
from signd.daemon.layout import TUTORIAL_1662  # noqa: E402


@pytest.fixture(scope="module")
def images():
    return frames(24)


@pytest.fixture(scope="module")
def by_process(images):
    """The tutorial's way: `process`, one frame at a time, nothing of ours but the vector."""
    holistic = new_holistic(1)
    try:
        return np.stack([landmarks_to_vector(holistic.process(im), TUTORIAL_1662) for im in images])
    finally:
        holistic.close()


def test_two_frames_in_the_graph_give_the_same_vectors_in_order(images, by_process):
    x = HolisticExtractor(TUTORIAL_1662)
    assert x.depth == 2
    got = []
    try:
        for i, im in enumerate(images):
            if i >= x.depth:
                got.append(x.collect())
            x.submit(im)
        while len(got) < len(images):
            got.append(x.collect())
    finally:
        x.close()
    np.testing.assert_array_equal(np.stack(got), by_process)  # tracking state travels in order


def test_one_at_a_time_is_process(images, by_process):
    x = HolisticExtractor(TUTORIAL_1662)
    try:
        got = np.stack([x.extract(im) for im in images])
    finally:
        x.close()
    np.testing.assert_array_equal(got, by_process)


def test_the_frame_buffer_is_free_once_submitted(images, by_process):
    """MediaPipe copies the frame, so a caller (the child's shared buffer) may overwrite it."""
    x = HolisticExtractor(TUTORIAL_1662)
    buf = np.empty_like(images[0])
    got = []
    try:
        for i, im in enumerate(images[:6]):
            buf[...] = im
            x.submit(buf)
            buf[...] = 0
            if i >= 1:
                got.append(x.collect())
        got.append(x.collect())
    finally:
        x.close()
    np.testing.assert_array_equal(np.stack(got), by_process[:6])


def test_depth_and_extract_guard_the_order():
    x = HolisticExtractor(TUTORIAL_1662)
    im = frames(1)[0]
    try:
        x.submit(im)
        with pytest.raises(RuntimeError, match="in flight"):
            x.extract(im)
        x.submit(im)
        with pytest.raises(RuntimeError, match="collect"):
            x.submit(im)
        assert x.collect().shape == x.collect().shape == (1662,)
        with pytest.raises(ValueError, match="RGB"):
            x.submit(im[:, :, 0])
    finally:
        x.close()
