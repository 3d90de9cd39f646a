"""The paper's Tables 1 and 2 in miniature, from the command line (the same code as nbs/10_experiments.ipynb).

    python benchmarks/experiments.py --n 200 --steps 10 20 50 --etas 0 1 --table2-steps 10 50   # a small run: time it first
    python benchmarks/experiments.py                        # every default cell (see --help): many times the small run
    python benchmarks/experiments.py --out tables.json --device cuda

Table 1: FID-digits (± bootstrap sd) of `--n` samples from the shipped digits model against the 1,500 training digits,
for every η in `--etas` ('sigma_hat' for the paper's σ̂) and S in `--steps`, x̂_0 not clipped (the paper's sampler),
one seed for every cell. Table 2: reconstruction MSE per dimension ([0, 1] scale) of `--table2-n` held-out digits
encoded and decoded with S steps. Prints both tables beside the paper's CIFAR-10 numbers, and writes every cell
(with its wall time) to `--out` as JSON. It measures; it asserts nothing.
"""
import argparse, json, platform, time
from pathlib import Path


def parse_eta(s:str):
    if s == "sigma_hat": return s
    try: v = float(s)
    except ValueError: raise argparse.ArgumentTypeError(f"an η must be a number >= 0 or 'sigma_hat', got {s!r}") from None
    if v < 0: raise argparse.ArgumentTypeError(f"an η must be >= 0, got {v}")
    return v


def positive_int(s:str)->int:
    try: v = int(s)
    except ValueError: raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
    if v < 1: raise argparse.ArgumentTypeError(f"expected a number >= 1, got {v}")
    return v


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=positive_int, default=1000, help="samples per Table 1 cell (default 1000)")
    p.add_argument("--steps", type=positive_int, nargs="+", default=[10, 20, 50, 100, 1000], help="S values of Table 1")
    p.add_argument("--etas", type=parse_eta, nargs="+", default=[0.0, 0.2, 0.5, 1.0, "sigma_hat"], help="η values ('sigma_hat' for σ̂)")
    p.add_argument("--seed", type=int, default=0, help="seed of every cell (default 0)")
    p.add_argument("--table2-steps", type=positive_int, nargs="*", default=[10, 20, 50, 100, 200, 500, 1000], help="S values of Table 2 (none: skip it)")
    p.add_argument("--table2-n", type=positive_int, default=100, help="held-out digits encoded and decoded (default 100, at most 297)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--out", type=Path, help="write every cell as JSON here")
    a = p.parse_args(argv)
    if a.table2_n > 297: p.error(f"--table2-n must be at most 297 (the held-out digits), got {a.table2_n}")

    import torch
    try: device = torch.device(a.device)
    except RuntimeError: p.error(f"--device must be a torch device such as cpu, cuda or cuda:1, got {a.device!r}")
    if device.type == "cuda" and not torch.cuda.is_available(): p.error(f"--device {a.device}: no CUDA device here")
    from ddim_nb.pipeline import DDIMPipeline
    from ddim_nb.scheduler import DDIMScheduler
    from ddim_nb.data import load_digits_dataset
    from ddim_nb.metrics import load_digit_classifier
    from ddim_nb.experiments import quality_table, reconstruction_table, format_table, PAPER_TABLE1, PAPER_TABLE2, PAPER_STEPS

    t_start = time.perf_counter()
    pipe = DDIMPipeline.from_pretrained("digits").to(a.device)
    pipe.set_progress_bar_config(disable=True)
    sched = DDIMScheduler.from_config(dict(pipe.scheduler.config), clip_sample=False)
    clf = load_digit_classifier()
    x_train, _ = load_digits_dataset("train")
    x_test, _ = load_digits_dataset("test")

    table1 = quality_table(pipe.unet, sched, clf, x_train, steps=a.steps, etas=a.etas, n=a.n, seed=a.seed)
    print(f"Table 1: FID-digits ± bootstrap sd ({a.n} samples per cell vs the 1,500 training digits, seed {a.seed})\n")
    print(format_table(table1, "fid", "fid_sd"))
    print("\npaper (CIFAR-10 FID):\n")
    print(format_table([dict(eta=e, steps=S, fid=v) for e, vs in PAPER_TABLE1.items() for S, v in zip(PAPER_STEPS, vs)]))
    print(f"\nseconds per cell:\n\n{format_table(table1, 'seconds', fmt='{:.1f}')}")

    table2 = []
    if a.table2_steps:
        table2 = reconstruction_table(pipe, x_test[:a.table2_n].to(a.device), steps=a.table2_steps)
        print(f"\nTable 2: reconstruction MSE per dimension, [0, 1] scale ({a.table2_n} held-out digits)\n")
        print(f"{'S':>6}{'ours':>12}{'paper':>10}{'seconds':>9}")
        for r in table2:
            paper = PAPER_TABLE2.get(r["steps"])
            print(f"{r['steps']:>6}{r['mse']:>12.2e}{'' if paper is None else f'{paper:.4f}':>10}{r['seconds']:>9.1f}")
    total = time.perf_counter() - t_start
    print(f"\ntotal: {total / 60:.1f} min on {a.device} (torch {torch.__version__}, {torch.get_num_threads()} threads)")
    if a.out:
        a.out.write_text(json.dumps(dict(table1=table1, table2=table2, seconds=total, device=a.device, torch=torch.__version__,
                                         threads=torch.get_num_threads(), machine=platform.machine()), indent=1))
        print(f"wrote {a.out}")


if __name__ == "__main__": main()
