"""A Debian base image made here with debootstrap (there is no registry to pull one from): python3,
its venv module and CA certificates, slimmed as Debian's slim images are. The root filesystem is
cached as a tarball outside the repository, rebuilt when its recipe changes or it is a week old."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.container.podman import podman

CACHE = Path("/var/tmp/observatory-container-cache")
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "ca-certificates")
MAX_AGE_SECONDS = 7 * 24 * 3600  # then Debian's updates come in
REPOSITORY = "localhost/observatory-test-base"
# What Debian's slim images leave out; dpkg keeps leaving it out of later installs.
SLIM_DPKG_CONFIG = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
"""


def host_debian_mirror(suite: str) -> str | None:
    """The mirror this machine's apt uses for `suite` (None: debootstrap's default)."""
    sources = Path("/etc/apt/sources.list.d")
    for path in sorted(sources.glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                line.split(":", 1) for line in stanza.splitlines() if ":" in line and not line.startswith("#")
            )
            types, suites = fields.get("Types", "").split(), fields.get("Suites", "").split()
            if "deb" in types and suite in suites and fields.get("URIs", "").strip():
                return fields["URIs"].split()[0]
    for path in [Path("/etc/apt/sources.list"), *sorted(sources.glob("*.list"))]:
        for line in path.read_text().splitlines() if path.exists() else []:
            words = [word for word in line.split() if not word.startswith("[")]
            if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                return words[1]
    return None


def recipe_key(mirror: str | None) -> str:
    architecture = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    recipe = [SUITE, PACKAGES, SLIM_DPKG_CONFIG, mirror, architecture]
    return hashlib.sha256(json.dumps(recipe).encode()).hexdigest()[:16]


@contextlib.contextmanager
def cache_lock() -> Iterator[None]:
    """One session at a time builds or imports the base; the others wait and reuse it."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def slim(rootfs: Path) -> None:
    """Never follows a symbolic link: an absolute one inside the rootfs points into the host."""
    (rootfs / "etc/dpkg/dpkg.cfg.d/slim").write_text(SLIM_DPKG_CONFIG)
    for directory in ("usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/groff"):
        for entry in children(rootfs / directory):
            remove(entry)
    for package in children(rootfs / "usr/share/doc"):
        for entry in children(package):
            if entry.name != "copyright":
                remove(entry)
    for archive in children(rootfs / "var/cache/apt/archives"):
        if archive.name.endswith(".deb"):
            remove(archive)
    for entry in children(rootfs / "var/lib/apt/lists"):
        if entry.name not in ("lock", "partial"):
            remove(entry)


def children(directory: Path) -> list[Path]:
    """The entries of a real directory; none of a symbolic link's."""
    if directory.is_symlink() or not directory.is_dir():
        return []
    return list(directory.iterdir())


def remove(entry: Path) -> None:
    if entry.is_dir() and not entry.is_symlink():
        shutil.rmtree(entry)  # unlinks the symbolic links it meets, never follows them
    else:
        entry.unlink()


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    return [point for point in points if point == str(path) or point.startswith(f"{path}/")]


def remove_rootfs(rootfs: Path) -> None:
    """debootstrap mounts /proc, /sys and devices inside while it works: deleting through one of
    those would reach the host's, so anything still mounted is unmounted first (or nothing goes)."""
    for point in sorted(mounts_under(rootfs), reverse=True):
        subprocess.run(["umount", "--lazy", point], check=False)
    if mounts_under(rootfs):
        raise RuntimeError(f"{rootfs} still has mounts; left in place")
    shutil.rmtree(rootfs)


def build_rootfs_tarball(tarball: Path, mirror: str | None) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="rootfs-", dir=CACHE))
    rootfs = workdir / "rootfs"
    try:
        command = ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(rootfs)]
        result = subprocess.run(
            command + ([mirror] if mirror else []), capture_output=True, text=True, timeout=600, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"debootstrap failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        slim(rootfs)
        partial = workdir / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True, timeout=300)
        partial.replace(tarball)
    finally:
        if rootfs.exists():
            remove_rootfs(rootfs)
        shutil.rmtree(workdir, ignore_errors=True)


def ensure_base_image() -> str:
    """The base image's name, imported from the cached root filesystem (built first if stale)."""
    mirror = host_debian_mirror(SUITE)
    key = recipe_key(mirror)
    tarball = CACHE / f"debian-{SUITE}-{key}.tar"
    with cache_lock():
        if not tarball.exists() or time.time() - tarball.stat().st_mtime > MAX_AGE_SECONDS:
            for stale in CACHE.glob("debian-*.tar"):
                stale.unlink()
            build_rootfs_tarball(tarball, mirror)
        name = f"{REPOSITORY}:{key}-{int(tarball.stat().st_mtime)}"
        if podman("image", "exists", name, check=False).returncode != 0:
            podman("import", str(tarball), name, timeout=600)
            remove_other_base_images(name)
        return name


def remove_other_base_images(keep: str) -> None:
    """Bases of older recipes or tarballs; one still in use by a container stays (no --force)."""
    listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={REPOSITORY}")
    for name in set(listed.stdout.split()) - {keep}:
        podman("rmi", name, check=False)
