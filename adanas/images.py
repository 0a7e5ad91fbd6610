"""Image tags that tie the step images to the code that compiled the pipeline.

The images are tagged `<version>-<content hash>`: the hash covers every file that goes into an
image (the package sources, the shipped configs, the dependency pins and the image recipes), so
a pipeline compiled from a working tree runs exactly the images built from that tree, and an
edit without a version bump still gets a new tag instead of silently replacing an old one.
`make images`, Cloud Build and the compiled pipeline all take the tag from here:

    python3 -m adanas.images tag              # 0.1.0-3f2a9c1b7d4e
    python3 -m adanas.images ref REPO gpu     # REPO-gpu:0.1.0-3f2a9c1b7d4e

From a source checkout (or an editable install) the hash is computed from the files; a
non-editable install has no source tree, so the image build records the hash of the tree it
installed in `SOURCE_HASH` next to this module (`python -m adanas.images stamp --root SRC`).

Standard library only, and nothing else from `adanas`: `make` runs it with any python3 >= 3.8.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from adanas import __version__

# (folder, glob) pairs, relative to the source root: what the Dockerfiles copy into an image.
HASHED = (
    ("adanas", "**/*.py"),
    ("components", "**/*.py"),
    ("pipelines", "**/*.py"),
    ("pipelines/configs", "**/*.yaml"),
    (".", "pyproject.toml"),
    ("containers", "constraints-*.txt"),
    ("containers", "requirements.py"),
    ("containers", "Dockerfile*"),
)
HASH_LENGTH = 12
KINDS = ("", "gpu", "tpu")
STAMP = Path(__file__).with_name("SOURCE_HASH")


def source_root() -> Path | None:
    """The source tree this package was imported from (a checkout or an editable install), or
    None for an installed wheel."""
    root = Path(__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and 'name = "adanas"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def hashed_files(root: str | Path) -> list[str]:
    """The files the hash covers, as sorted POSIX paths relative to `root`."""
    root = Path(root)
    found = set()
    for folder, pattern in HASHED:
        for path in (root / folder).glob(pattern):
            rel = path.relative_to(root)
            if path.is_file() and not any(p == "__pycache__" or p.startswith(".") for p in rel.parts):
                found.add(rel.as_posix())
    return sorted(found)


def content_hash(root: str | Path | None = None) -> str:
    """First HASH_LENGTH hex digits of a sha256 over the hashed files' paths and contents (line
    endings normalised, so a Windows checkout hashes like a Linux one).

    root: a source tree; default: the one this package runs from, else the installed stamp."""
    if root is None:
        root = source_root()
        if root is None:
            if STAMP.is_file():
                return STAMP.read_text(encoding="utf-8").strip()
            raise RuntimeError(
                "adanas is installed without its source tree, so the image tag cannot be "
                "computed: compile from a checkout (pip install -e .), or use the images' "
                "installation, which records it")
    files = hashed_files(root)
    if "pyproject.toml" not in files:
        raise FileNotFoundError(f"{root}: not an adanas source tree (no pyproject.toml)")
    digest = hashlib.sha256()
    for rel in files:
        data = (Path(root) / rel).read_bytes().replace(b"\r\n", b"\n")
        digest.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:HASH_LENGTH]


def image_tag(root: str | Path | None = None) -> str:
    """`<package version>-<content hash>`, the tag of all three images."""
    return f"{__version__}-{content_hash(root)}"


def image_ref(repository: str, kind: str = "", root: str | Path | None = None) -> str:
    """`repository[-kind]:tag`; kind: "" (CPU: every step), "gpu" or "tpu" (training)."""
    if kind not in KINDS:
        raise ValueError(f"unknown image kind {kind!r}; allowed: {', '.join(map(repr, KINDS))}")
    return f"{repository}{'-' + kind if kind else ''}:{image_tag(root)}"


def registry_host(image: str) -> str | None:
    """The registry an image reference names (its first path component when that contains a
    '.' or ':' or is 'localhost'), or None: such an image is pulled from Docker Hub."""
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def docker_hub_name(image: str) -> str:
    """Where a reference without a registry host is pulled from: adanas -> docker.io/library/adanas."""
    if registry_host(image):
        return image
    return f"docker.io/{image}" if "/" in image else f"docker.io/library/{image}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adanas.images",
                                     description=(__doc__ or "").split("\n\n")[0])
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument("--root", help="source tree to hash (default: this package's, else the "
                                     "hash recorded at installation)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("tag", parents=[root], help="print <version>-<hash>, the images' tag")
    sub.add_parser("hash", parents=[root], help="print the content hash")
    ref = sub.add_parser("ref", parents=[root], help="print REPOSITORY[-KIND]:TAG")
    ref.add_argument("repository")
    ref.add_argument("kind", nargs="?", default="", choices=KINDS)
    check = sub.add_parser("check", parents=[root], help="fail unless TAG is the source tree's tag")
    check.add_argument("tag")
    sub.add_parser("stamp", parents=[root],
                   help=f"record the hash of --root in {STAMP.name} beside this module (the "
                        "image build does this for the installed package)")
    args = parser.parse_args(argv)
    if args.command == "tag":
        print(image_tag(args.root))
    elif args.command == "hash":
        print(content_hash(args.root))
    elif args.command == "ref":
        print(image_ref(args.repository, args.kind, args.root))
    elif args.command == "check":
        actual = image_tag(args.root)
        if args.tag != actual:
            print(f"image tag {args.tag!r} is not this source tree's ({actual!r}): build "
                  f"with ADANAS_TAG=$(python3 -m adanas.images tag), as make images does",
                  file=sys.stderr)
            return 1
    elif args.command == "stamp":
        if not args.root:
            parser.error("stamp needs --root (the source tree that was installed)")
        STAMP.write_text(content_hash(args.root) + "\n", encoding="utf-8")
        print(f"{STAMP}: {STAMP.read_text().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
