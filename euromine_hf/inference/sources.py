"""Finding what to map without labels: an archive (raw layout), one site folder, a folder of
``Year{YYYY}.tif`` images, or a single GeoTIFF whose name may carry its year.

Only images are looked for, so a folder of new scenes (no masks, no split file) maps as readily
as the benchmark archive; every file found is checked to stay inside the input folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["YEAR_TIF", "Scene", "find_scenes", "year_of"]

#: A yearly image's file name, ``Year{YYYY}.tif`` (any case, ``.tiff`` too).
YEAR_TIF = re.compile(r"^year(\d{4})\.tiff?$", re.IGNORECASE)
_YEAR_IN_NAME = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")


@dataclass
class Scene:
    """Images of one place: ``{year: GeoTIFF}``; ``name`` is the output subfolder (a site), or
    ``None`` when outputs go straight into the output folder."""

    folder: Path
    name: str | None
    images: dict[int, Path] = field(default_factory=dict)


def year_of(path: Path) -> int | None:
    """The year a single file's name states (``Year2019.tif``, ``s2_2019_07.tif``), if any."""
    match = _YEAR_IN_NAME.search(path.stem)
    return int(match.group(1)) if match else None


def _year_files(folder: Path, root: Path) -> dict[int, Path]:
    from euromine_hf.data.archive import ArchiveError, check_inside

    found: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        match = YEAR_TIF.match(path.name)
        if not match or not path.is_file():
            continue
        check_inside(root, path)
        year = int(match.group(1))
        if year in found:
            raise ArchiveError(folder, f"image for year {year}", "exactly one file", f"{found[year].name} and {path.name}")
        found[year] = path
    return found


def _is_site(folder: Path) -> bool:
    return (folder / "image").is_dir() and any(YEAR_TIF.match(p.name) for p in (folder / "image").iterdir())


def find_scenes(
    source: str | Path,
    *,
    years: Iterable[int] | None = None,
    sites: Iterable[str] | None = None,
    split: str | None = None,
    split_scheme: str = "auto",
    seed: int = 0,
) -> list[Scene]:
    """The scenes of an archive (raw layout), a site folder (``image/Year{YYYY}.tif``) or a folder
    of ``Year{YYYY}.tif`` images, with the images of ``years`` (default: every year found). Labels
    are neither needed nor read."""
    from euromine_hf.data.archive import ArchiveError, check_inside

    root = Path(source)
    if not root.is_dir():
        raise ArchiveError(root, "input", "an archive, a site folder, a folder of Year{YYYY}.tif images or a GeoTIFF",
                           "no such file or folder" if not root.exists() else "not a folder")
    if _is_site(root):
        scenes = [Scene(root, root.name, _year_files(root / "image", root))]
    elif any(YEAR_TIF.match(p.name) for p in root.iterdir()):
        scenes = [Scene(root, None, _year_files(root, root))]
    else:
        folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
        site_folders = [d for d in folders if _is_site(check_inside(root, d))]
        if not site_folders:
            cropped = any(any((y / "image").is_dir() for y in d.iterdir() if y.is_dir()) for d in folders)
            raise ArchiveError(
                root, "layout",
                "site folders with image/Year{YYYY}.tif (raw layout), a folder of Year{YYYY}.tif images, or one GeoTIFF",
                "cropped patches ({Site}/{YYYY}/image/*.npy): whole-scene maps need the GeoTIFFs" if cropped else "none of these",
            )
        scenes = [Scene(d, d.name, _year_files(d / "image", root)) for d in site_folders]
    if sites is not None:
        wanted = list(dict.fromkeys(sites))
        have = {s.name for s in scenes}
        unknown = [s for s in wanted if s not in have]
        if unknown:
            raise ArchiveError(root, "sites", f"sites found there ({', '.join(sorted(n for n in have if n)) or 'none'})", ", ".join(unknown))
        scenes = [s for s in scenes if s.name in wanted]
    if split is not None:
        from euromine_hf.data.splits import assign_splits

        # --sites is an explicit subset: the official lists need not all be there
        chosen = set(assign_splits([s.name for s in scenes if s.name], split_scheme, seed, partial=sites is not None)[split])
        scenes = [s for s in scenes if s.name in chosen]
    if years is not None:
        year_list = sorted({int(y) for y in years})
        for scene in scenes:
            missing = [y for y in year_list if y not in scene.images]
            if missing:
                folder = scene.folder / "image" if scene.name and (scene.folder / "image").is_dir() else scene.folder
                raise ArchiveError(folder, f"image for year {missing[0]}", f"Year{missing[0]}.tif", "no such file")
            scene.images = {y: scene.images[y] for y in year_list}
    if not scenes:
        raise ValueError(f"{root}: no site to predict (sites={sites}, split={split})")
    return scenes
