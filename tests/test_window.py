import numpy as np
import pytest

from signd.daemon.window import WindowBuffer


def frames(n, f=4):
    return np.arange(n * f, dtype=np.float32).reshape(n, f)


def test_window_is_the_last_t_frames_in_order():
    data = frames(100)
    w = WindowBuffer(30, 4)
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
    w = WindowBuffer(3, 2)
    win = None
    for i in range(3):
        win = w.push(np.full(2, i, np.float32), i, 0.0, 0.0)
    assert win is not None and win.frames.base is w._buf


@pytest.mark.parametrize("stride", [1, 2, 5])
def test_stride(stride):
    w = WindowBuffer(30, 4, stride=stride)
    emitted = [i for i, fr in enumerate(frames(90)) if w.push(fr, i, 0.0, 0.0) is not None]
    assert emitted == list(range(29, 90, stride))


def test_reset_after_absence_and_refill():
    w = WindowBuffer(5, 2, reset_after=0.5)
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
    w = WindowBuffer(5, 2, reset_after=None)
    assert not any(w.absent_too_long(False, i) for i in range(100) if w.push(np.zeros(2), i, 0, 0) or True)


def test_bad_sizes():
    with pytest.raises(ValueError):
        WindowBuffer(0, 4)
