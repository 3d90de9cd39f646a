"""Start-up and training throughput: `import ddim_nb`, `import ddim_nb` + first use, `ddim-nb --help`, and training
images per second for the shipped digits network.

    python benchmarks/startup_and_training.py            # 7 repeats of each start-up, 50 training steps at batch 128
    python benchmarks/startup_and_training.py --device cuda --bf16

Start-up times are medians over fresh interpreter processes (wall clock, including the interpreter itself, whose own
start-up is reported alone for reference). Training throughput is measured over `--steps` optimizer steps after 5
warm-up steps. It measures; it asserts nothing.
"""
import argparse, statistics, subprocess, sys, time
from pathlib import Path


def median_wall(cmd, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def training_throughput(steps, batch, device, bf16):
    import torch
    from ddim_nb.training import preset, build_model, diffusion_loss
    from ddim_nb.scheduler import DDIMScheduler
    torch.manual_seed(0)
    model = build_model(preset("digits")["model"]).to(device)
    opt = torch.optim.AdamW(model.parameters(), 1e-3)
    abar = DDIMScheduler().alphas_cumprod.to(device)
    x = torch.randn(batch, 1, 8, 8, device=device)
    def step():
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16 and device.startswith("cuda")):
            loss = diffusion_loss(model, x, abar)
        opt.zero_grad(); loss.backward(); opt.step()
    for _ in range(5): step()
    if device.startswith("cuda"): torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps): step()
    if device.startswith("cuda"): torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true")
    args = p.parse_args()
    py = sys.executable
    cli = str(Path(py).parent / "ddim-nb")
    rows = [("python -c pass", median_wall([py, "-c", "pass"], args.repeats)),
            ("import ddim_nb", median_wall([py, "-c", "import ddim_nb"], args.repeats)),
            ("import ddim_nb; ddim_nb.DDIMScheduler", median_wall([py, "-c", "import ddim_nb; ddim_nb.DDIMScheduler"], args.repeats)),
            ("ddim-nb --help", median_wall([cli, "--help"], args.repeats))]
    print(f"| command (fresh process, median of {args.repeats}) | seconds |")
    print("|---|---|")
    for name, s in rows: print(f"| `{name}` | {s:.3f} |")
    ips = training_throughput(args.steps, args.batch_size, args.device, args.bf16)
    print(f"\ntraining the digits preset network on {args.device}{' (bf16)' if args.bf16 else ''}, batch {args.batch_size}: "
          f"{ips:.0f} images/s ({args.batch_size / ips * 1e3:.0f} ms per step)")


if __name__ == "__main__":
    main()
