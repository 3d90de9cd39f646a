"""Pipeline speed: ddim-nb's DDIMPipeline against diffusers' DDIMPipeline on the same UNet, batch and steps.

    python benchmarks/pipeline_speed.py                 # shipped digits UNet, batches 1 and 64, 50 steps, 7 runs
    python benchmarks/pipeline_speed.py --repeats 11 --batches 1 16 64 --steps 50 --device cpu

For each batch size it times whole sampling calls (output_type='np', progress bars off, same seed) and reports the
median of `--repeats` runs after one warm-up, the two pipelines' runs interleaved, the ratio ours / diffusers (below 1: ours is faster), and the time per
step spent outside the UNet (the call's time minus the UNet's own time, measured by timing every UNet call),
which is the pipeline's and the scheduler's overhead. Needs diffusers (the dev extra). It measures; it asserts nothing.
"""
import argparse, statistics, time
import torch


class TimedUNet(torch.nn.Module):
    "Wraps a UNet and adds up the wall time of its forward calls."
    def __init__(self, unet):
        super().__init__()
        self.unet, self.seconds = unet, 0.0
    @property
    def config(self): return self.unet.config
    @property
    def dtype(self): return self.unet.dtype
    @property
    def device(self): return self.unet.device
    def forward(self, *args, **kwargs):
        if self.unet.device.type == "cuda": torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = self.unet(*args, **kwargs)
        if self.unet.device.type == "cuda": torch.cuda.synchronize()
        self.seconds += time.perf_counter() - t0
        return out


def time_pipelines(pipes, timed, batch, steps, repeats):
    "Median wall time of a sampling call and median time outside the UNet, per pipeline; runs are interleaved."
    for p in pipes:
        p.set_progress_bar_config(disable=True)
        p(batch_size=batch, generator=torch.Generator().manual_seed(0), num_inference_steps=steps, output_type="np")  # warm-up
    totals, outside = [[] for _ in pipes], [[] for _ in pipes]
    for _ in range(repeats):                      # interleaved, so that drifts in machine speed hit both alike
        for k, p in enumerate(pipes):
            timed.seconds = 0.0
            t0 = time.perf_counter()
            p(batch_size=batch, generator=torch.Generator().manual_seed(0), num_inference_steps=steps, output_type="np")
            totals[k].append(time.perf_counter() - t0)
            outside[k].append(totals[k][-1] - timed.seconds)
    return [(statistics.median(t), statistics.median(o)) for t, o in zip(totals, outside)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    import diffusers
    from ddim_nb import DDIMPipeline
    from ddim_nb.training import pretrained_path
    from ddim_nb.models import UNet2DModel
    from ddim_nb.scheduler import DDIMScheduler
    folder = pretrained_path("digits")
    unet = UNet2DModel.from_pretrained(folder, subfolder="unet", device=args.device)
    sched = DDIMScheduler.from_pretrained(folder)
    timed = TimedUNet(unet).eval()
    ours = DDIMPipeline(timed, sched)
    theirs = diffusers.DDIMPipeline(unet=timed, scheduler=diffusers.DDIMScheduler.from_config(dict(sched.config)))
    print(f"torch {torch.__version__}, diffusers {diffusers.__version__}, device {args.device}, threads {torch.get_num_threads()}, "
          f"UNet: shipped digits model ({sum(p.numel() for p in unet.parameters()):,} parameters), {args.steps} steps, "
          f"median of {args.repeats} runs")
    print("| batch | ddim-nb (s) | diffusers (s) | ratio ddim-nb / diffusers | outside the UNet per step: ddim-nb | diffusers |")
    print("|---|---|---|---|---|---|")
    for b in args.batches:
        (t_ours, o_ours), (t_theirs, o_theirs) = time_pipelines([ours, theirs], timed, b, args.steps, args.repeats)
        print(f"| {b} | {t_ours:.3f} | {t_theirs:.3f} | {t_ours / t_theirs:.2f} | "
              f"{1e3 * o_ours / args.steps:.3f} ms | {1e3 * o_theirs / args.steps:.3f} ms |")


if __name__ == "__main__":
    main()
