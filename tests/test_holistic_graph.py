"""MediaPipe's graph with two frames in it gives what `Holistic.process` gives one at a time."""

import logging
import time
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("mediapipe")

from test_extractor_process import frames  # noqa: E402

from signd.daemon import holistic_graph  # noqa: E402
from signd.daemon.holistic import HolisticExtractor, new_holistic
from signd.daemon.holistic_graph import HolisticGraph, OneAtATime, open_graph  # noqa: E402
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
    x = HolisticExtractor(TUTORIAL_1662, 1)
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
    x = HolisticExtractor(TUTORIAL_1662, 1)
    try:
        got = np.stack([x.extract(im) for im in images])
    finally:
        x.close()
    np.testing.assert_array_equal(got, by_process)


def test_the_frame_buffer_is_free_once_submitted(images, by_process):
    """MediaPipe copies the frame, so a caller (the child's shared buffer) may overwrite it."""
    x = HolisticExtractor(TUTORIAL_1662, 1)
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
    x = HolisticExtractor(TUTORIAL_1662, 1)
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


class PublicOnly:
    """A Holistic as another MediaPipe might have it: `process` and `close`, none of the
    private attributes HolisticGraph reaches into."""

    def __init__(self, holistic):
        self._real = holistic

    def process(self, rgb):
        return self._real.process(rgb)

    def close(self):
        self._real.close()


class NoHasError:
    """A Holistic whose `_graph` lacks `has_error` (the rest is the real one's)."""

    def __init__(self, holistic):
        self._real = holistic
        self._graph = SimpleNamespace(add_packet_to_input_stream=holistic._graph.add_packet_to_input_stream)
        self._output_stream_type_info = holistic._output_stream_type_info
        self._graph_outputs = holistic._graph_outputs
        self._get_packet_content = holistic._get_packet_content

    def process(self, rgb):
        return self._real.process(rgb)


@pytest.fixture
def fresh_warning(monkeypatch, caplog):
    """Forget an earlier test's fallback warning, so this test sees whether one is logged."""
    monkeypatch.setattr(holistic_graph, "_warned", False)
    caplog.set_level(logging.WARNING, logger=holistic_graph.__name__)
    return caplog


def fallback_warnings(caplog):
    return [r for r in caplog.records
            if r.name == holistic_graph.__name__ and "falling back" in r.getMessage()]


def test_a_real_holistic_gets_two_frames_in_the_graph(fresh_warning):
    holistic = new_holistic(1)
    try:
        graph = open_graph(holistic)
        assert type(graph) is HolisticGraph and graph.depth == 2
    finally:
        holistic.close()
    assert not fallback_warnings(fresh_warning)


def test_without_the_private_attributes_process_one_at_a_time_gives_the_same_vectors(
        images, by_process, fresh_warning):
    proxy = PublicOnly(new_holistic(1))
    try:
        graph = open_graph(proxy)
        assert type(graph) is OneAtATime and graph.depth == 1
        buf = np.empty_like(images[0])
        got = []
        for im in images:
            buf[...] = im
            before = time.monotonic()
            graph.submit(buf)
            buf[...] = 0  # the caller's buffer is free once submit returns
            assert len(graph) == 1
            results, submitted = graph.collect()
            assert before <= submitted <= time.monotonic() and len(graph) == 0
            got.append(landmarks_to_vector(results, TUTORIAL_1662))
    finally:
        proxy.close()
    np.testing.assert_array_equal(np.stack(got), by_process)
    (warning,) = fallback_warnings(fresh_warning)
    assert "_graph, _output_stream_type_info, _graph_outputs, _get_packet_content" in warning.getMessage()
    assert "process() one frame at a time" in warning.getMessage()


def test_the_fallback_is_logged_once_per_process(fresh_warning):
    proxies = [PublicOnly(new_holistic(1)), PublicOnly(new_holistic(1))]
    try:
        assert all(type(open_graph(p)) is OneAtATime for p in proxies)
    finally:
        for p in proxies:
            p.close()
    assert len(fallback_warnings(fresh_warning)) == 1


def test_a_graph_without_has_error_falls_back(fresh_warning):
    holistic = new_holistic(1)
    try:
        assert type(open_graph(NoHasError(holistic))) is OneAtATime
    finally:
        holistic.close()
    (warning,) = fallback_warnings(fresh_warning)
    assert "lacks _graph.has_error:" in warning.getMessage()


@pytest.mark.parametrize("make", [PublicOnly, lambda h: h], ids=["fallback", "graph"])
def test_both_guard_depth_order_and_shape(make):
    holistic = new_holistic(1)
    graph = open_graph(make(holistic))
    im = frames(1)[0]
    try:
        with pytest.raises(RuntimeError, match="no frame submitted"):
            graph.collect()
        with pytest.raises(ValueError, match="RGB"):
            graph.submit(im[:, :, 0])
        for _ in range(graph.depth):
            graph.submit(im)
        with pytest.raises(RuntimeError, match="collect"):
            graph.submit(im)
        for _ in range(graph.depth):
            results, _ = graph.collect()
            assert all(hasattr(results, s) for s in holistic_graph.STREAMS)
        assert len(graph) == 0
    finally:
        holistic.close()
