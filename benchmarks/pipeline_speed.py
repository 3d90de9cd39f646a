"""Pipeline speed: ddim-nb's DDIMPipeline against diffusers' DDIMPipeline driving the same network, batch, steps and seed.

    python benchmarks/pipeline_speed.py                   # batches 1 and 64, 50 steps, 7 interleaved runs, then overhead
    python benchmarks/pipeline_speed.py --repeats 11 --batches 1 16 64 --steps 50 --json speed.json
    python benchmarks/pipeline_speed.py --models digits   # only the 8×8 digits U-Net

Two measurements, every run of ours followed by one of diffusers' (interleaved, so that drifts in machine speed hit
both alike), each reported as the median with the range (min–max) over `--repeats` runs after one warm-up:

1. **wall time** of a whole sampling call (output_type='np', progress bars off) with each shipped U-Net of `--models`
   (default: the 8×8 digits and the 28×28 MNIST model, those that are shipped), at each of `--batches`; the ratio
   ours / diffusers is the median of the per-pair ratios (below 1: ours is faster);
2. **time outside the network per step**: the same calls with a network that costs nothing (it returns zeros) of the
   first model's shape, batch
   `--overhead-batch`, `--overhead-steps` steps, 1 thread. Everything in that figure is the pipeline's and the
   scheduler's own work: drawing x_T, the per-step arithmetic and checks, the output conversion.

Needs diffusers (the dev extra). It measures; it asserts nothing. `--json PATH` writes every number (and the runs).
"""
import argparse, json, platform, statistics, time
from types import SimpleNamespace
import torch


class ZeroNet(torch.nn.Module):
    "A network that costs nothing: ε̂ = 0 for every input. Has the model contract both pipelines read."
    def __init__(self, in_channels:int, sample_size:int):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))               # gives the pipelines a device and a dtype
        self.config = SimpleNamespace(in_channels=in_channels, sample_size=sample_size, out_channels=in_channels)
    @property
    def dtype(self): return self.anchor.dtype
    @property
    def device(self): return self.anchor.device
    def forward(self, sample, timestep, *args, **kwargs): return SimpleNamespace(sample=torch.zeros_like(sample))


def spread(xs):
    "median, min, max"
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def time_pair(pipes, batch, steps, repeats, device):
    "Wall times of `repeats` interleaved sampling calls per pipeline (after one warm-up each): [[ours...], [theirs...]]."
    def call(p):
        if device.type == "cuda": torch.cuda.synchronize()
        t0 = time.perf_counter()
        p(batch_size=batch, generator=torch.Generator().manual_seed(0), num_inference_steps=steps, output_type="np")
        if device.type == "cuda": torch.cuda.synchronize()
        return time.perf_counter() - t0
    for p in pipes:
        p.set_progress_bar_config(disable=True)
        call(p)                                                       # warm-up
    runs = [[], []]
    for _ in range(repeats):
        for k, p in enumerate(pipes): runs[k].append(call(p))
    return runs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64], help="batch sizes for the wall-time comparison")
    p.add_argument("--steps", type=int, default=50, help="sampling steps S for the wall-time comparison")
    p.add_argument("--repeats", type=int, default=7, help="interleaved runs per pipeline and setting")
    p.add_argument("--overhead-batch", type=int, default=1, help="batch size for the zero-cost network (default 1)")
    p.add_argument("--overhead-steps", type=int, default=200, help="steps for the zero-cost network (default 200)")
    p.add_argument("--models", nargs="+", default=None, help="shipped image models to time (default: digits and mnist, those shipped)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--json", help="write all numbers to this file")
    a = p.parse_args(argv)
    for name in ("steps", "repeats", "overhead_batch", "overhead_steps"):
        if getattr(a, name) < 1: p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(a, name)}")
    if any(b < 1 for b in a.batches): p.error(f"--batches must be >= 1, got {a.batches}")
    try: device = torch.device(a.device)
    except RuntimeError: p.error(f"--device must be a torch device such as cpu, cuda or cuda:1, got {a.device!r}")
    if device.type == "cuda" and not torch.cuda.is_available(): p.error(f"--device {a.device}: no CUDA device here")

    import diffusers
    from ddim_nb import DDIMPipeline
    from ddim_nb.folders import pretrained_path, available_pipelines
    from ddim_nb.models import UNet2DModel
    from ddim_nb.scheduler import DDIMScheduler
    shipped = available_pipelines()
    models = a.models or [m for m in ("digits", "mnist") if m in shipped]
    for m in models:
        if m not in shipped or m == "swissroll": p.error(f"--models: {m!r} is not a shipped image model ({', '.join(s for s in shipped if s != 'swissroll')})")
    result = dict(torch=torch.__version__, diffusers=diffusers.__version__, device=a.device, machine=platform.machine(),
                  repeats=a.repeats, wall=[], overhead=None)
    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, device {a.device}, {torch.get_num_threads()} threads; "
          f"median [min–max] of {a.repeats} interleaved runs each")
    fmt = lambda s, f="{:.3f}": f"{f.format(s['median'])} [{f.format(s['min'])}–{f.format(s['max'])}]"
    pair = lambda net, sched: [DDIMPipeline(net, sched),
                               diffusers.DDIMPipeline(unet=net, scheduler=diffusers.DDIMScheduler.from_config(dict(sched.config)))]
    for m in models:
        folder = pretrained_path(m)
        unet = UNet2DModel.from_pretrained(folder, subfolder="unet", device=a.device)
        sched = DDIMScheduler.from_pretrained(folder)
        size = unet.config.sample_size
        print(f"\nWall time of a sampling call, shipped {m} U-Net ({size}×{size}, {sum(q.numel() for q in unet.parameters()):,} "
              f"parameters), S = {a.steps}:\n")
        print("| batch | ddim-nb (s) | diffusers (s) | ratio ddim-nb / diffusers |")
        print("|---|---|---|---|")
        for b in a.batches:
            ours, theirs = time_pair(pair(unet, sched), b, a.steps, a.repeats, device)
            row = dict(model=m, sample_size=size, batch=b, steps=a.steps, ours=spread(ours), diffusers=spread(theirs),
                       ratio=spread([o / t for o, t in zip(ours, theirs)]), runs=dict(ours=ours, diffusers=theirs))
            result["wall"].append(row)
            print(f"| {b} | {fmt(row['ours'])} | {fmt(row['diffusers'])} | {fmt(row['ratio'], '{:.2f}')} |")
        if m == models[0]: first = (unet, sched)
    unet, sched = first

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        zero = ZeroNet(unet.config.in_channels, unet.config.sample_size).to(device)
        ours, theirs = time_pair(pair(zero, sched), a.overhead_batch, a.overhead_steps, a.repeats, device)
    finally: torch.set_num_threads(threads)
    per_step = lambda xs: [1e3 * x / a.overhead_steps for x in xs]                 # ms per step
    o = dict(batch=a.overhead_batch, steps=a.overhead_steps, threads=1, ours_ms=spread(per_step(ours)),
             diffusers_ms=spread(per_step(theirs)), ratio=spread([x / y for x, y in zip(ours, theirs)]),
             runs=dict(ours=ours, diffusers=theirs))
    result["overhead"] = o
    print(f"\nTime outside the network per step (a network that returns zeros; batch {a.overhead_batch}, "
          f"S = {a.overhead_steps}, 1 thread):\n")
    print("| ddim-nb (ms/step) | diffusers (ms/step) | ratio ddim-nb / diffusers |")
    print("|---|---|---|")
    print(f"| {fmt(o['ours_ms'])} | {fmt(o['diffusers_ms'])} | {fmt(o['ratio'], '{:.2f}')} |")
    if a.json:
        with open(a.json, "w") as f: json.dump(result, f, indent=1)
        print(f"\nwrote {a.json}")


if __name__ == "__main__":
    main()
