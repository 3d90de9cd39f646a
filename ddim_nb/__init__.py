"""ddim-nb: Denoising Diffusion Implicit Models (Song, Meng & Ermon, ICLR 2021), derived in notebooks.

The public names are imported lazily, so `import ddim_nb` is fast and loads torch only when a name is used.
This file is written by hand (nbdev only updates `__version__`); the modules themselves are exported from nbs/.
"""
__version__ = "0.1.0"


_exports = {
    "DDIMScheduler": "scheduler", "DDPMScheduler": "scheduler", "SchedulerOutput": "scheduler",
    "DDIMSchedulerOutput": "scheduler", "DDPMSchedulerOutput": "scheduler",
    "UNet2DModel": "models", "MLPDenoiser": "models",
    "DDIMPipeline": "pipeline", "ImagePipelineOutput": "pipeline",
    "DDIMInverseScheduler": "inversion",
    "DPMSolverMultistepScheduler": "solvers",
}
__all__ = list(_exports)

def __getattr__(name):
    if name in _exports:
        import importlib
        value = getattr(importlib.import_module(f"{__name__}.{_exports[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

def __dir__(): return sorted(list(globals()) + __all__)
