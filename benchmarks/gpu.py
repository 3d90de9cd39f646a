"""Sampling and training throughput on an accelerator: fp32 against bf16 autocast, channels_last, optional torch.compile.

    python benchmarks/gpu.py                       # CUDA if present; otherwise says so and exits 0
    python benchmarks/gpu.py --compile --out gpu.json
    python benchmarks/gpu.py --device cpu --smoke                             # a smoke run anywhere (seconds)

Two networks: the shipped digits UNet (8×8, 0.53M parameters: small enough that kernel launches dominate on a GPU)
and a CIFAR-sized UNet of the same family (32×32×3, channels 128/256/256, attention at 16×16; random weights, which
do not change its speed). For each setting it reports sampling throughput (images/s of whole 50-step DDIM calls
through DDIMPipeline, median of `--repeats` after a warm-up) and training throughput (images/s of forward + backward
+ AdamW steps on the DDPM loss). Runs in a few minutes on one GPU. It measures; it asserts nothing.
"""
import argparse, json, statistics, time
from pathlib import Path


def sync(device):
    import torch
    if device.type == "cuda": torch.cuda.synchronize()


def timed(fn, device, repeats:int)->float:
    "Median seconds of `fn()` over `repeats` runs after one warm-up."
    fn(); sync(device)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); sync(device); out.append(time.perf_counter() - t0)
    return statistics.median(out)


def make_nets(device, smoke:bool=False):
    from ddim_nb.pipeline import DDIMPipeline
    from ddim_nb.models import UNet2DModel
    digits = DDIMPipeline.from_pretrained("digits").unet
    channels, layers, groups = ((8, 8, 8), 1, 4) if smoke else ((128, 256, 256), 2, 32)   # smoke: same blocks, few channels
    cifar = UNet2DModel(sample_size=32, in_channels=3, out_channels=3, block_out_channels=channels,
                        layers_per_block=layers, norm_num_groups=groups, attention_head_dim=None,
                        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
                        up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"))
    return {"digits 8×8": digits.to(device), "cifar-size 32×32": cifar.to(device)}


def bench(unet, device, batch:int, steps:int, repeats:int, bf16:bool, channels_last:bool, compile_:bool)->dict:
    import copy, torch
    from ddim_nb.pipeline import DDIMPipeline
    from ddim_nb.scheduler import DDIMScheduler
    from ddim_nb.training import diffusion_loss
    net = copy.deepcopy(unet)
    if channels_last: net = net.to(memory_format=torch.channels_last)
    fwd = torch.compile(net) if compile_ else net
    amp = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    class Wrapped(torch.nn.Module):          # the pipeline's model contract, with autocast around the call
        def __init__(self):
            super().__init__(); self.net = net
        config = property(lambda self: net.config)
        def forward(self, x, t):
            with amp(): out = fwd(x.contiguous(memory_format=torch.channels_last) if channels_last else x, t).sample
            return type("Out", (), {"sample": out.float()})()

    sched = DDIMScheduler()
    pipe = DDIMPipeline(Wrapped(), sched)
    pipe.set_progress_bar_config(disable=True)
    def sample():
        with torch.no_grad(): pipe(batch_size=batch, num_inference_steps=steps, output_type="pt", generator=torch.Generator().manual_seed(0))
    s_sample = timed(sample, device, repeats)

    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    c = net.config
    x0 = torch.randn(batch, c.in_channels, c.sample_size, c.sample_size, device=device)
    abar = sched.alphas_cumprod.to(device)
    def train_steps(k=5):
        for _ in range(k):
            with amp(): loss = diffusion_loss(fwd, x0, abar)
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    s_train = timed(train_steps, device, repeats)
    return dict(sample_images_per_s=batch / s_sample, sample_seconds=s_sample, train_images_per_s=5 * batch / s_train)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else report and exit)")
    p.add_argument("--batch", type=int, default=256, help="images per sampling call and per training step (default 256)")
    p.add_argument("--steps", type=int, default=50, help="DDIM steps per sampling call (default 50)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per measurement, median reported (default 3)")
    p.add_argument("--compile", action="store_true", help="also measure with torch.compile (adds compile time to the warm-up)")
    p.add_argument("--out", type=Path, help="write the results as JSON here")
    p.add_argument("--smoke", action="store_true", help="check that it runs: batch 1, 1 step, 1 repeat, a CIFAR-size UNet "
                                                        "with 8 channels (measures nothing; for the tests)")
    a = p.parse_args(argv)
    if a.smoke: a.batch = a.steps = a.repeats = 1
    for name in ("batch", "steps", "repeats"):
        if getattr(a, name) < 1: p.error(f"--{name} must be >= 1, got {getattr(a, name)}")
    import torch
    if a.device is None:
        if not torch.cuda.is_available():
            print("no CUDA device here: nothing to measure (pass --device cpu for a smoke run)"); return
        a.device = "cuda"
    try: device = torch.device(a.device)
    except RuntimeError: p.error(f"--device must be a torch device such as cpu, cuda or cuda:1, got {a.device!r}")
    if device.type == "cuda" and not torch.cuda.is_available(): p.error(f"--device {a.device}: no CUDA device here")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False   # fp32 means fp32
        print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    settings = [("fp32", False, False, False), ("bf16", True, False, False), ("bf16 + channels_last", True, True, False)]
    if a.compile: settings.append(("bf16 + channels_last + compile", True, True, True))
    rows = []
    for net_name, unet in make_nets(device, a.smoke).items():
        for label, bf16, cl, comp in settings:
            r = bench(unet, device, a.batch, a.steps, a.repeats, bf16, cl, comp)
            rows.append(dict(model=net_name, setting=label, batch=a.batch, steps=a.steps, **r))
            print(f"{net_name:<18} {label:<32} sampling {r['sample_images_per_s']:>9.1f} img/s ({a.steps} steps)"
                  f"   training {r['train_images_per_s']:>9.1f} img/s", flush=True)
    if a.out:
        a.out.write_text(json.dumps(dict(device=str(device), torch=torch.__version__, rows=rows), indent=1))
        print(f"wrote {a.out}")


if __name__ == "__main__": main()
