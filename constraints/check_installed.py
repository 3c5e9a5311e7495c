"""Fails unless every package pinned in a constraints file is installed at exactly that version.

    python constraints/check_installed.py constraints/minimum.txt
"""

import sys
from importlib import metadata
from pathlib import Path


def main(path: str) -> int:
    wrong = []
    for line in Path(path).read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line or "==" not in line:
            continue
        name, want = (part.strip() for part in line.split("==", 1))
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = "not installed"
        print(f"{name} {have}")
        if have != want:
            wrong.append(f"{name}: {have}, expected {want}")
    if wrong:
        print("not the pinned versions: " + "; ".join(wrong), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
