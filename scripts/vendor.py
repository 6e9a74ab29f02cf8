"""The dashboard's and the API docs' front-end libraries, pinned: `make vendor` (or
`python scripts/vendor.py`) fetches each package's tarball from the npm registry, checks it
against the pinned integrity hash, and writes the listed files and the package's licence into
the tree. The output is committed: running rhythm, or its tests, never fetches anything.

`--check` verifies, without the network, that the committed files are the ones the pins name
(a sha256 of each is recorded in `VENDORED.json` beside them).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "rhythm" / "web" / "static" / "vendor"
TESTS = ROOT / "tests" / "web" / "vendor"
REGISTRY = "https://registry.npmjs.org"

# package, version, npm integrity, {file in the tarball: where it goes}, licence files.
PINS: list[tuple[str, str, str, dict[str, Path], list[str]]] = [
    (
        "preact",
        "11.2.0",
        "sha512-/HfHI/7N84e6GrWBJ3J280z3mLaRJiDcSvj/A+y/4AbLnND/1UlGHe1sR6oYuTGwId0nP7dqDU9OnLxMPZ7xBg==",
        {
            "dist/preact.mjs": STATIC / "preact.mjs",
            "hooks/dist/hooks.mjs": STATIC / "preact-hooks.mjs",
        },
        ["LICENSE"],
    ),
    (
        "htm",
        "3.1.1",
        "sha512-983Vyg8NwUE7JkZ6NmOqpCZ+sh1bKv2iYTlUkzlWmA5JD2acKoxd4KVxbMmxX/85mtfdnDmTFoNKcg5DGAvxNQ==",
        {"dist/htm.mjs": STATIC / "htm.mjs"},
        ["LICENSE"],
    ),
    (
        "chart.js",
        "4.6.1",
        "sha512-hJyniucsFmq//EvXYvJ6c6mahPoI3kaxdjVH8awTaJ/fDNWeSqqqArixMJWkWNN6fcYvPU3HneSANFNYtRi61g==",
        {"dist/chart.umd.min.js": STATIC / "chart.umd.min.js"},
        ["LICENSE.md"],
    ),
    (
        "swagger-ui-dist",
        "5.35.0",
        "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==",
        {
            "swagger-ui-bundle.js": STATIC / "swagger-ui-bundle.js",
            "swagger-ui.css": STATIC / "swagger-ui.css",
        },
        ["LICENSE", "swagger-ui-bundle.js.LICENSE.txt"],
    ),
    (
        "axe-core",
        "4.14.1",
        "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
        {"axe.min.js": TESTS / "axe.min.js"},
        ["LICENSE"],
    ),
]


def _tarball(name: str, version: str, integrity: str) -> tarfile.TarFile:
    url = f"{REGISTRY}/{name}/-/{name.split('/')[-1]}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 (a fixed https URL)
        data = answer.read()
    algorithm, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise SystemExit(f"{name}@{version}: the tarball does not match its pinned integrity")
    return tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _record_path(target: Path) -> Path:
    return target.parent / "VENDORED.json"


def vendor() -> None:
    records: dict[Path, dict[str, dict[str, str]]] = {}
    for name, version, integrity, files, licences in PINS:
        archive = _tarball(name, version, integrity)
        targets = dict(files)
        folder = next(iter(files.values())).parent
        for licence in licences:
            targets[licence] = folder / "licenses" / f"{name}-{Path(licence).name}"
        for member, target in targets.items():
            extracted = archive.extractfile(f"package/{member}")
            if extracted is None:
                raise SystemExit(f"{name}@{version} has no {member}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(extracted.read())
            record = records.setdefault(_record_path(folder / "x"), {})
            record[str(target.relative_to(folder))] = {
                "package": f"{name}@{version}",
                "from": member,
                "sha256": _sha256(target),
            }
            print(f"{name}@{version}: {member} -> {target.relative_to(ROOT)}")
    for path, record in records.items():
        path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"vendored {len(PINS)} packages")


def check() -> int:
    bad = 0
    for folder in (STATIC, TESTS):
        record = json.loads((folder / "VENDORED.json").read_text())
        for relative, entry in record.items():
            path = folder / relative
            if not path.exists() or _sha256(path) != entry["sha256"]:
                print(f"{path.relative_to(ROOT)} differs from {entry['package']}")
                bad += 1
    print("vendored files match their pins" if not bad else f"{bad} vendored files differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(check() if "--check" in sys.argv[1:] else vendor())
