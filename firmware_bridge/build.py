"""Build TensorFlow Lite Micro from a source tree, for the host or a Cortex-M4.

TFLM is not vendored here: a build takes ``TFLM_DIR``, a folder with the
unmodified trees TFLM's own Makefile downloads (``tflite-micro/``,
``flatbuffers/``, ``gemmlowp/``, ``ruy/``; kissfft is only for TFLM's signal
ops, not used here). A user points it at the checkout they already have (or
that their board's SDK ships, often with optimized kernels); vendoring would
freeze several hundred files at one TFLM commit inside every Auricle release,
and TFLM has no release tags to track. The tests point it at
``../shared/third_party``.

Only what a model needs is compiled: TFLM's core (interpreter, allocators,
memory planner, flatbuffer glue, shared TFLite sources: about 45 files) and, per
op, the reference kernel file that defines ``Register_<OP>`` with its
``*_common.cc``. Objects are cached per toolchain and flags, so a second build
with more ops compiles only the new kernels.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sdk.errors import ConfigError

TFLM_DIR_ENV = "TFLM_DIR"
_PARTS = {  # folder -> a file that must be in it
    "tflite-micro": "tensorflow/lite/micro/micro_interpreter.h",
    "flatbuffers": "include/flatbuffers/flatbuffers.h",
    "gemmlowp": "fixedpoint/fixedpoint.h",
    "ruy": "ruy/profiler/instrumentation.h",
}
TFLM_DEFINES = ["-DTF_LITE_STATIC_MEMORY", "-DTF_LITE_DISABLE_X86_NEON", "-DNDEBUG"]
CXX_ONLY = ["-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics"]
SECTIONS = ["-ffunction-sections", "-fdata-sections", "-fno-unwind-tables", "-fno-asynchronous-unwind-tables"]


@dataclass(frozen=True)
class Toolchain:
    """A compiler family and the flags every object of one target shares."""

    name: str
    prefix: str = ""  # e.g. "arm-none-eabi-"
    flags: tuple = ()
    defines: tuple = field(default_factory=tuple)

    def tool(self, name: str) -> str:
        path = shutil.which(self.prefix + name)
        if path is None:
            raise ConfigError(f"{self.name} build: {self.prefix + name} is not installed")
        return path

    @property
    def available(self) -> bool:
        return all(shutil.which(self.prefix + t) for t in ("gcc", "g++", "ar"))


HOST = Toolchain("host", "", ("-O2",), ("-DTF_LITE_USE_CTIME",))
# mps2-an386: Cortex-M4 with the single-precision FPU; newlib with semihosting (librdimon).
CORTEX_M4 = Toolchain(
    "cortex-m4", "arm-none-eabi-", ("-O2", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")
)


def find_tflm(path: str | os.PathLike | None = None) -> Path:
    """The TFLM source folder: ``path``, else ``$TFLM_DIR``; ConfigError naming what is missing."""
    given = path if path is not None else os.environ.get(TFLM_DIR_ENV)
    if not given:
        raise ConfigError(f"TFLite Micro sources: pass tflm_dir or set {TFLM_DIR_ENV} to a folder holding "
                          f"{', '.join(_PARTS)} (see docs: README, MCU section)")
    root = Path(given)
    missing = [f"{folder}/{probe}" for folder, probe in _PARTS.items() if not (root / folder / probe).is_file()]
    if missing:
        raise ConfigError(f"TFLite Micro sources: {root} lacks {missing}; expected the trees TFLM's Makefile downloads")
    return root


def include_flags(root: Path, *, system: bool = False) -> list[str]:
    """Include paths of a TFLM tree; ``system`` keeps TFLM's own warnings out of a -Werror build."""
    folders = [root / "tflite-micro", root / "flatbuffers" / "include", root / "gemmlowp", root / "ruy"]
    if system:
        return [part for folder in folders for part in ("-isystem", str(folder))]
    return [f"-I{folder}" for folder in folders]


def core_sources(root: Path) -> list[Path]:
    """TFLM's runtime without tests, benchmarks or test doubles (sources.inc's MICROLITE_CC_SRCS)."""
    tflm = root / "tflite-micro"
    micro = tflm / "tensorflow" / "lite" / "micro"
    sources = [*micro.glob("*.cc"), *(micro / "arena_allocator").glob("*.cc"), *(micro / "memory_planner").glob("*.cc"),
               *(micro / "tflite_bridge").glob("*.cc")]
    for folder in (tflm / "tensorflow").rglob("*"):  # the TFLite sources TFLM shares (TFL_CC_SRCS)
        if folder.suffix in (".cc", ".c") and "micro" not in folder.relative_to(tflm).parts[:3] \
                and "experimental" not in folder.parts and folder.name != "array.cc":
            sources.append(folder)
    skip = re.compile(r"(_test|test_helpers?|testing_helpers|fake_|mock_|recording_)")
    return sorted(s for s in sources if not skip.search(s.name))


def kernel_sources(root: Path, ops) -> list[Path]:
    """Reference kernel files registering ``ops`` (``CONV_2D`` ...), with their ``*_common.cc``."""
    kernels = root / "tflite-micro" / "tensorflow" / "lite" / "micro" / "kernels"
    chosen = {kernels / "kernel_util.cc", kernels / "micro_tensor_utils.cc"}
    files = [f for f in kernels.glob("*.cc") if not f.name.endswith("_test.cc")]
    texts = {f: f.read_text(errors="replace") for f in files}
    for op in ops:
        pattern = re.compile(rf"TFLMRegistration\s+Register_{re.escape(op)}\s*\(\s*\)\s*\{{")
        defining = [f for f, text in texts.items() if pattern.search(text)]
        if not defining:
            raise ConfigError(f"TFLite Micro sources: no kernel in {kernels} defines Register_{op}")
        for f in defining:
            chosen.add(f)
            common = f.with_name(f.stem + "_common.cc")
            if common.exists():
                chosen.add(common)
    return sorted(chosen)


def _compile(toolchain: Toolchain, source: Path, obj: Path, flags: list[str]) -> None:
    cxx = source.suffix == ".cc"
    command = [toolchain.tool("g++" if cxx else "gcc"), *flags, *(CXX_ONLY if cxx else ["-std=c11"]), "-c",
               str(source), "-o", str(obj) + ".tmp"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ConfigError(f"{toolchain.name} build: compiling {source} failed:\n{' '.join(command)}\n{result.stderr[-3000:]}")
    os.replace(str(obj) + ".tmp", obj)


def build_library(root: Path, ops, toolchain: Toolchain, build_dir: str | os.PathLike, *, jobs: int = 2) -> Path:
    """``libtflm.a`` for ``ops`` built by ``toolchain`` under ``build_dir`` (objects cached there)."""
    root = find_tflm(root)
    flags = [*toolchain.flags, *SECTIONS, *TFLM_DEFINES, *toolchain.defines, *include_flags(root)]
    tag = hashlib.sha256(" ".join([toolchain.prefix, *flags]).encode()).hexdigest()[:12]
    objects_dir = Path(build_dir) / f"{toolchain.name}-{tag}"
    sources = core_sources(root) + kernel_sources(root, sorted(set(ops)))
    pending, objects = [], []
    for source in sources:
        obj = objects_dir / (str(source.relative_to(root)).replace(os.sep, "__") + ".o")
        objects.append(obj)
        if not obj.exists() or obj.stat().st_mtime < source.stat().st_mtime:
            pending.append((source, obj))
    objects_dir.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as pool:
        for future in [pool.submit(_compile, toolchain, s, o, flags) for s, o in pending]:
            future.result()
    key = hashlib.sha256("\n".join(map(str, objects)).encode()).hexdigest()[:12]
    library = objects_dir / f"libtflm-{key}.a"
    if pending or not library.exists():
        library.unlink(missing_ok=True)
        subprocess.run([toolchain.tool("ar"), "rcs", str(library), *map(str, objects)], check=True)
    return library


EXAMPLE_DIR = Path(__file__).resolve().parents[1] / "examples" / "firmware"
C_DIR = Path(__file__).resolve().parent / "c"
BOARDS = {"host": "host.c", "cortex-m4": "mps2_an386.c"}


def build_firmware(root, export_dir: str | os.PathLike, name: str, toolchain: Toolchain, library: Path,
                   out: str | os.PathLike, *, example_dir: Path = EXAMPLE_DIR) -> Path:
    """Link ``examples/firmware/main.cc`` with an export, the C front end and link, TFLM and a board.

    ``library`` comes from ``build_library`` with the same toolchain and at
    least the export's ops. Returns the program (host) or ELF image (Cortex-M4).
    """
    root = find_tflm(root)
    export_dir, out = Path(export_dir), Path(out)
    board = example_dir / "boards" / BOARDS[toolchain.name]
    flags = [*toolchain.flags, *SECTIONS, *TFLM_DEFINES, *include_flags(root, system=True), f"-I{export_dir}", f"-I{C_DIR}",
             f"-DAURICLE_MODEL={name}", "-Wall", "-Wextra", "-Werror"]
    sources = [example_dir / "main.cc", export_dir / f"{name}_model.cc", export_dir / f"{name}_resolver.cc",
               C_DIR / "auricle_frontend.c", C_DIR / "auricle_link.c", board]
    objects_dir = out.parent / (out.name + ".obj")
    objects_dir.mkdir(parents=True, exist_ok=True)
    objects = [objects_dir / (s.name + ".o") for s in sources]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(_compile, toolchain, s, o, flags) for s, o in zip(sources, objects)]:
            future.result()
    link = [toolchain.tool("g++"), *toolchain.flags, "-Wl,--gc-sections", *map(str, objects), str(library), "-lm",
            "-o", str(out)]
    if toolchain.name == "cortex-m4":
        link[1:1] = ["-nostartfiles", "--specs=nosys.specs", f"-T{example_dir / 'boards' / 'mps2_an386.ld'}"]
    result = subprocess.run(link, capture_output=True, text=True)
    if result.returncode != 0:
        raise ConfigError(f"{toolchain.name} build: linking {out} failed:\n{' '.join(link)}\n{result.stderr[-3000:]}")
    return out
