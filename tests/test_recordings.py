import numpy as np
import pytest

from signd.daemon.errors import DataError, InputError
from signd.daemon.recordings import load_mp_data, load_npz, load_recording, normalize_label

from conftest import shared_path
from modelkit import save_mp_data, save_npz, synthetic_recording


def test_normalize_label():
    assert normalize_label("I love you") == "iloveyou"
    assert normalize_label("Thank-You!") == "thankyou"


def test_npz_and_mp_data_load_the_same(tmp_path):
    rec = synthetic_recording(n_per_class=3)
    a = load_npz(save_npz(rec, tmp_path / "s.npz"))
    b = load_mp_data(save_mp_data(rec, tmp_path / "MP_Data"))
    assert a.labels == b.labels == rec.labels
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_allclose(a.X, b.X, atol=1e-3)  # the npz stores float16
    assert a.layout.name == b.layout.name == "pose-hands-258"


def test_shared_signer_loads():
    rec = load_recording(shared_path("signers", "mujster.npz"))
    assert rec.X.shape == (90, 30, 1662) and rec.labels == ["hello", "iloveyou", "thanks"]
    assert rec.name == "mujster"


def test_missing(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_recording(tmp_path / "nope.npz")


def test_empty_mp_data(tmp_path):
    with pytest.raises(InputError, match="no sequences"):
        load_mp_data(tmp_path)


def test_ragged_mp_data_names_the_sequence(tmp_path):
    root = save_mp_data(synthetic_recording(n_per_class=2), tmp_path / "MP_Data")
    (root / "thanks" / "1" / "29.npy").unlink()
    with pytest.raises(DataError, match=r"thanks/1: ragged sequence, 29 frames"):
        load_mp_data(root)


def test_wrong_frame_length_names_the_file(tmp_path):
    root = save_mp_data(synthetic_recording(n_per_class=2), tmp_path / "MP_Data")
    np.save(root / "hello" / "1" / "7.npy", np.zeros(100, np.float32))
    with pytest.raises(DataError, match=r"hello/1/7\.npy: frame has 100 values"):
        load_mp_data(root)


def test_nan_in_npz_names_file_and_sequence(tmp_path):
    rec = synthetic_recording(n_per_class=2)
    rec.X[4, 3, 10] = np.nan
    p = save_npz(rec, tmp_path / "bad.npz")
    with pytest.raises(DataError, match=r"bad\.npz: non-finite value .* sequence 'thanks/4', frame 3, column 10"):
        load_npz(p)


def test_nan_in_mp_data_names_the_file(tmp_path):
    root = save_mp_data(synthetic_recording(n_per_class=2), tmp_path / "MP_Data")
    v = np.load(root / "hello" / "0" / "5.npy")
    v[2] = np.nan
    np.save(root / "hello" / "0" / "5.npy", v)
    with pytest.raises(DataError, match=r"hello/0/5\.npy: non-finite value"):
        load_mp_data(root)


def test_npz_missing_key(tmp_path):
    np.savez(tmp_path / "k.npz", X=np.zeros((1, 30, 258)))
    with pytest.raises(DataError, match="missing key 'y'"):
        load_npz(tmp_path / "k.npz")


def test_not_an_npz(tmp_path):
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(tmp_path / "x.npz")


def test_wrong_width(tmp_path):
    np.savez(tmp_path / "w.npz", X=np.zeros((2, 30, 100)), y=np.zeros(2, int), labels=np.array(["a"]))
    with pytest.raises(DataError, match="frames have 100 values"):
        load_npz(tmp_path / "w.npz")
