import numpy as np
import pytest

from signd.daemon.window import WindowBuffer


def frames(n, f=4):
    return np.arange(n * f, dtype=np.float32).reshape(n, f)


def test_window_is_the_last_t_frames_in_order():
    data = frames(100)
    w = WindowBuffer(30, 4, 1, 1.0)
    seen = 0
    for i, fr in enumerate(data):
        win = w.push(fr, i, float(i), i / 30)
        if i < 29:
            assert win is None
            continue
        seen += 1
        np.testing.assert_array_equal(win.frames, data[i - 29 : i + 1])
        assert win.frame == i and win.t_capture == float(i)
    assert seen == 71


def test_window_is_a_view_not_a_copy():
    w = WindowBuffer(3, 2, 1, 1.0)
    win = None
    for i in range(3):
        win = w.push(np.full(2, i, np.float32), i, 0.0, 0.0)
    assert win is not None and win.frames.base is w._buf


@pytest.mark.parametrize("stride", [1, 2, 5])
def test_stride(stride):
    w = WindowBuffer(30, 4, stride, 1.0)
    emitted = [i for i, fr in enumerate(frames(90)) if w.push(fr, i, 0.0, 0.0) is not None]
    assert emitted == list(range(29, 90, stride))


def test_reset_after_absence_and_refill():
    w = WindowBuffer(5, 2, 1, reset_after=0.5)
    fps = 10
    hands = [True] * 8 + [False] * 8 + [True] * 8
    resets, windows = [], []
    for i, h in enumerate(hands):
        t = i / fps
        if w.absent_too_long(h, t):
            resets.append(i)
            w.reset()
        if w.push(np.zeros(2, np.float32), i, t, t) is not None:
            windows.append(i)
    # the last hand is in frame 7 (0.7 s); at 1.2 s (frame 12) the buffer restarts
    assert resets == [12]
    # windows up to 11, then none until 5 new frames are in (12..16)
    assert windows == [4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23]


def test_reset_never():
    w = WindowBuffer(5, 2, 1, reset_after=0.0)
    assert not any(w.absent_too_long(False, i) for i in range(100) if w.push(np.zeros(2), i, 0, 0) or True)


def test_bad_sizes():
    with pytest.raises(ValueError):
        WindowBuffer(0, 4, 1, 1.0)


# -- the window in seconds -----------------------------------------------------------------

from signd.daemon.window import TimedWindowBuffer  # noqa: E402


def test_timed_window_at_the_recordings_rate_is_the_frame_window():
    data = frames(90)
    a, b = WindowBuffer(30, 4, 2, 1.0), TimedWindowBuffer(30, 4, 1.0, 2, 1.0)
    for i, fr in enumerate(data):
        t = i / 30
        wa, wb = a.push(fr, i, t, t), b.push(fr, i, t, t)
        assert (wa is None) == (wb is None), i
        if wa is not None:
            np.testing.assert_array_equal(wa.frames, wb.frames)
            assert wb.frame == wa.frame == i


def test_timed_window_at_five_fps_holds_each_frame():
    w = TimedWindowBuffer(30, 1, 1.0, 1, 1.0)
    out = []
    for i in range(12):
        t = i / 5
        win = w.push(np.array([i], np.float32), i, t, t)
        if win is not None:
            out.append((i, win.frames[:, 0].tolist()))
    # ready once a second is covered (frame 5 at 1.0 s reaches back to 0.033 s; frame 0 at 0.0 holds)
    assert out[0][0] == 5
    first = out[0][1]
    assert first == sorted(first) and len(first) == 30
    assert first[-1] == 5 and first.count(5.0) == 1  # the newest frame only at the last row
    assert all(first.count(v) == 6 for v in (1.0, 2.0, 3.0, 4.0))  # 0.2 s held for 6 rows
    assert [i for i, _ in out] == list(range(5, 12))


def test_timed_window_reset_and_faster_camera():
    w = TimedWindowBuffer(30, 1, 1.0, 1, 1.0)
    for i in range(60):  # 60 fps: every other frame is sampled
        t = i / 60
        win = w.push(np.array([i], np.float32), i, t, t)
    assert win.frames[:, 0].tolist() == list(range(1, 60, 2))  # samples at (2k - 1) / 60 s
    w.reset()
    assert w.push(np.array([0], np.float32), 60, 1.0, 1.0) is None
