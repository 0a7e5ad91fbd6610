"""Prints the package's pinned requirements plus one extra's, one a line, from pyproject.toml.

The Dockerfiles' dependency layer installs these before any code is copied, so a code change
rebuilds only the small layer that installs the package itself (`pip install --no-deps .`):

    python containers/requirements.py pyproject.toml gpu > /tmp/requirements.txt
"""

import sys
import tomllib


def requirements(pyproject: str, extra: str) -> list[str]:
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    extras = project.get("optional-dependencies", {})
    if extra not in extras:
        raise SystemExit(f"{pyproject}: no extra {extra!r}; have: {', '.join(extras)}")
    return list(project["dependencies"]) + list(extras[extra])


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python containers/requirements.py PYPROJECT EXTRA")
    print("\n".join(requirements(sys.argv[1], sys.argv[2])))
