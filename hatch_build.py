"""Build hook: compiles the C extensions (service/observatory_ingest/native/*.c) with the compiler
Python itself was built with. Each goes next to the package sources, so an editable install
imports it from the checkout, and into the wheel, which then carries a platform tag."""

from __future__ import annotations

import shlex
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE = Path("service/observatory_ingest")
EXTENSIONS = {
    "_otlp_wire": PACKAGE / "native" / "otlp_wire.c",
    "_trace_rows": PACKAGE / "native" / "trace_rows.c",
    "_attribute_fields": PACKAGE / "native" / "attribute_fields.c",
}


def compile_extension(
    root: Path,
    name: str,
    source: Path,
    package_dir: Path | None = None,
    compiler: str | None = None,
    flags: tuple[str, ...] = ("-O2",),
) -> Path:
    """Builds one extension into the package (or package_dir: the sanitizer and fuzzing builds of
    tests/fuzz/build.py), with Python's compiler or another (clang, for libFuzzer's coverage)."""
    target = (package_dir or root / PACKAGE) / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"
    linker = shlex.split(sysconfig.get_config_var("LDSHARED") or "cc -shared")
    if compiler is not None:
        linker[0] = compiler
    warnings = ["-fPIC", "-Wall", "-Wextra", "-Werror", f"-I{sysconfig.get_paths()['include']}"]
    subprocess.run([*linker, *flags, *warnings, str(root / source), "-o", str(target)], check=True)
    return target


class NativeBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        for name, source in EXTENSIONS.items():
            built = compile_extension(root, name, source)
            if version != "editable":
                build_data["force_include"][str(built)] = f"observatory_ingest/{built.name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
