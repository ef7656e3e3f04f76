"""What the C side needs before anything is exported: a front end it can compute, and the flash and RAM.

The C front end (``firmware_bridge/c/auricle_frontend.c``) takes a power-of-two
FFT and at most ``AF_MAX_MELS`` mel bins; an artifact outside that would make
firmware whose features differ from training, so it is refused. Flash and RAM
budgets (``--flash-kb``, ``--ram-kb``) are checked against the model array
plus the TFLM runtime estimate, and the arena plus the firmware's own buffers.
"""
from __future__ import annotations

from sdk.errors import ConfigError

AF_MAX_MELS = 128  # firmware_bridge/c/auricle_frontend.c


def check_frontend(frontend, source: str) -> None:
    """ConfigError when the C front end cannot reproduce ``frontend`` (an ``sdk.frontend.FrontEndConfig``)."""
    n_fft = frontend.n_fft
    if n_fft < 2 or n_fft & (n_fft - 1):
        raise ConfigError(f"{source}: front end n_fft={n_fft}; the C front end needs a power of two (e.g. 512)")
    if frontend.n_mels > AF_MAX_MELS:
        raise ConfigError(f"{source}: front end n_mels={frontend.n_mels}; the C front end takes at most {AF_MAX_MELS}")


def firmware_ram_bytes(frontend, arena_bytes: int) -> dict:
    """RAM examples/firmware/main.cc allocates statically (stack and libc not included)."""
    bins = frontend.n_fft // 2 + 1
    work_floats = frontend.window_samples + 3 * frontend.n_fft + 3 * bins + frontend.n_mels + (bins * 2 + 3) // 4
    parts = {
        "tensor_arena": arena_bytes,
        "frontend_work": 4 * work_floats,
        "feature_ring": 4 * frontend.clip_frames * frontend.num_features,
        "audio_window": 4 * frontend.window_samples,
    }
    return {**parts, "total": sum(parts.values())}


def check_budget(source: str, *, flash_bytes: int, ram_bytes: int, flash_kb: float | None, ram_kb: float | None) -> None:
    """ConfigError naming the model, what it needs and the limit, when a budget is exceeded."""
    for what, need, limit_kb in (("flash", flash_bytes, flash_kb), ("RAM", ram_bytes, ram_kb)):
        if limit_kb is None:
            continue
        if not limit_kb > 0:
            raise ConfigError(f"export: {what} budget {limit_kb!r} KB must be positive")
        if need > limit_kb * 1024:
            raise ConfigError(f"{source}: needs {need} bytes ({need / 1024:.1f} KB) of {what}, over the "
                              f"{limit_kb:g} KB budget; pick a smaller model or a larger part")
