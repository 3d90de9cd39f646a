import torch
import pytest


def deterministic(batch=4, channels=3, size=8, flip=False):
    "diffusers' `dummy_sample_deter` / `dummy_noise_deter`: arange values laid out batch-last, then permuted."
    n = batch * channels * size * size
    x = torch.arange(n)
    if flip: x = x.flip(-1)
    return (x.reshape(channels, size, size, batch) / n).permute(3, 0, 1, 2)


def dummy_model(sample, t):
    "diffusers' scheduler-test model: sample * t / (t + 1)."
    if isinstance(t, torch.Tensor):
        t = t.reshape(-1, *(1,) * (sample.ndim - 1)).to(sample.device).to(sample.dtype)
    return sample * t / (t + 1)


@pytest.fixture
def sample_deter(): return deterministic()


@pytest.fixture
def noise_deter(): return deterministic(flip=True)


def pairwise(grid:dict)->list:
    """A small subset of the Cartesian product of `grid` (name -> values) that still holds every pair of values of
    every two options (a greedy covering array, deterministic). The fast tier runs these; the full grid is `slow`."""
    import itertools
    names = list(grid)
    rows = [dict(zip(names, c)) for c in itertools.product(*grid.values())]
    def pairs(row): return {(a, row[a], b, row[b]) for a, b in itertools.combinations(names, 2)}
    todo = set().union(*(pairs(r) for r in rows))
    chosen = []
    while todo:
        best = max(rows, key=lambda r: len(pairs(r) & todo))   # first of the best, in product order
        chosen.append(best)
        todo -= pairs(best)
    return chosen


def fast_subset(params:list, fast:list)->list:
    "`params` as pytest params, those not in `fast` marked `slow`."
    return [pytest.param(p, marks=() if p in fast else pytest.mark.slow) for p in params]


SMALL_UNET = dict(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(16, 32), layers_per_block=1,
                  down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
                  norm_num_groups=8, attention_head_dim=None)


def small_unet(seed=0):
    "Our UNet2DModel, 8×8 gray, two levels with attention at 4×4: small enough for the fast tier."
    import torch
    from ddim_nb.models import UNet2DModel
    torch.manual_seed(seed)
    return UNet2DModel(**SMALL_UNET)


def diffusers_or_skip():
    "diffusers, or skip the test (it is the parity oracle, in the dev extra)."
    import pytest
    return pytest.importorskip("diffusers", reason="diffusers is the parity oracle: pip install -e '.[dev]'")


def their_unet(seed=0):
    "diffusers' own UNet2DModel, 8×8 gray, two levels without attention (skips without diffusers)."
    import torch
    diffusers = diffusers_or_skip()
    torch.manual_seed(seed)
    return diffusers.UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(16, 32), layers_per_block=1,
                                 down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                                 norm_num_groups=8).eval()
