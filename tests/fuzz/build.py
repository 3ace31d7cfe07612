"""Builds the C extensions with AddressSanitizer and UndefinedBehaviorSanitizer into a directory of
their own, beside a copy of the package made of links to its sources (the normal build is never
overwritten), and prints the sanitizer runtime to preload into CPython, which is not built with it:

    PRELOAD=$(python -m tests.fuzz.build build/sanitizers)      # gcc
    LD_PRELOAD=$PRELOAD ASAN_OPTIONS=detect_leaks=0 PYTHONMALLOC=malloc PYTHONPATH=build/sanitizers \\
        pytest tests/unit/test_wire.py

detect_leaks=0: the interpreter keeps memory until exit (tests/unit/test_native_leaks.py looks for
leaks instead); PYTHONMALLOC=malloc lets AddressSanitizer see Python's own allocations.

With --fuzzing (clang) the extensions also carry libFuzzer's coverage counters, and the runtime to
preload is AddressSanitizer and libFuzzer linked into one library (as atheris' asan_with_fuzzer.so;
its wheel ships none): the counters must reach the libFuzzer atheris runs, and a preloaded
sanitizer runtime would otherwise take them. tests/fuzz/run.py says how to run a target.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import hatch_build

ROOT = Path(__file__).resolve().parents[2]
SANITIZERS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer")


def runtime_library(compiler: str) -> str:
    """The AddressSanitizer runtime the compiler links against, to preload."""
    name = "libclang_rt.asan-x86_64.so" if "clang" in compiler else "libasan.so"
    found = subprocess.run([compiler, f"-print-file-name={name}"], check=True, capture_output=True, text=True)
    return found.stdout.strip()


def fuzzing_runtime(out: Path, compiler: str) -> Path:
    """AddressSanitizer (less its preinit object, which a shared library may not hold) and libFuzzer
    without its main, in one shared library."""
    runtime_dir = Path(runtime_library(compiler)).parent
    asan = out / "asan-without-preinit.a"
    shutil.copy(runtime_dir / "libclang_rt.asan-x86_64.a", asan)
    subprocess.run(["ar", "d", str(asan), "asan_preinit.cpp.o"], check=True)
    merged = out / "asan_with_fuzzer.so"
    libraries = [str(asan), str(runtime_dir / "libclang_rt.fuzzer_no_main-x86_64.a")]
    link = [
        compiler,
        "-shared",
        "-o",
        str(merged),
        "-Wl,--whole-archive",
        *libraries,
        "-Wl,--no-whole-archive",
    ]
    subprocess.run([*link, "-lpthread", "-ldl", "-lrt", "-lm", "-lstdc++"], check=True)
    asan.unlink()
    return merged


def build(out: Path, compiler: str, fuzzing: bool) -> Path:
    """Builds into out/observatory_ingest; returns the runtime to preload."""
    package = out / "observatory_ingest"
    shutil.rmtree(package, ignore_errors=True)
    package.mkdir(parents=True)
    source_package = ROOT / hatch_build.PACKAGE
    for entry in source_package.iterdir():
        if not entry.name.endswith(".so") and entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    flags = ("-O1", "-g", *SANITIZERS, *(("-fsanitize=fuzzer-no-link",) if fuzzing else ()))
    for name, source in hatch_build.EXTENSIONS.items():
        hatch_build.compile_extension(ROOT, name, source, package, compiler, flags)
    return fuzzing_runtime(out, compiler) if fuzzing else Path(runtime_library(compiler))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--compiler", default="gcc")
    parser.add_argument("--fuzzing", action="store_true", help="add libFuzzer's coverage (clang only)")
    arguments = parser.parse_args()
    print(build(arguments.out.resolve(), arguments.compiler, arguments.fuzzing))


if __name__ == "__main__":
    main()
