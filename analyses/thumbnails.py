"""Gallery thumbnails: docs/figures/thumbs/NAME.png, about 320 px wide, for every docs/figures/*.png.

    python analyses/thumbnails.py [--width 320] [--figures docs/figures] [--check]

Run it after a figure of docs/figures/ was added or redrawn (docs/gallery.md shows the
thumbnails, each a link to its full figure). A thumbnail keeps its figure's aspect ratio; a
figure narrower than --width is copied at its own size. Thumbnails whose figure no longer exists
are removed. --check writes nothing and exits 1 when a thumbnail is missing, has no figure, or
differs in its pixels from the one its figure gives now (a figure redrawn since). Pillow comes
with matplotlib.
"""
import argparse
import sys
from pathlib import Path

from PIL import Image


def scaled(source: Path, width: int) -> Image.Image:
    """``source`` scaled to ``width`` pixels wide, aspect kept (a narrower figure as it is)."""
    with Image.open(source) as image:
        image = image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image.copy()
    if image.width > width:
        height = max(1, round(image.height * width / image.width))
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return image


def thumbnail(source: Path, target: Path, width: int) -> None:
    """Write the thumbnail of ``source`` to ``target`` as PNG."""
    scaled(source, width).save(target, format="PNG", optimize=True)


def stale(figures: Path, thumbs: Path, width: int) -> list[str]:
    """Figures without an up-to-date thumbnail, and thumbnails without a figure."""
    out = []
    for source in sorted(figures.glob("*.png")):
        target = thumbs / source.name
        if not target.exists():
            out.append(f"{source.name}: no thumbnail")
            continue
        with Image.open(target) as stored:
            if stored.tobytes() != scaled(source, width).tobytes():
                out.append(f"{source.name}: its thumbnail is out of date")
    out += [f"{t.name}: thumbnail of no figure" for t in sorted(thumbs.glob("*.png"))
            if not (figures / t.name).exists()]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--figures", type=Path, default=Path("docs/figures"))
    parser.add_argument("--check", action="store_true",
                        help="only say which thumbnails are missing or out of date")
    args = parser.parse_args()
    thumbs = args.figures / "thumbs"
    if args.check:
        problems = stale(args.figures, thumbs, args.width)
        print("\n".join(problems) or "every thumbnail is up to date")
        sys.exit(1 if problems else 0)
    thumbs.mkdir(exist_ok=True)
    for source in sorted(args.figures.glob("*.png")):
        thumbnail(source, thumbs / source.name, args.width)
        print(f"{thumbs / source.name}")
    for orphan in sorted(thumbs.glob("*.png")):
        if not (args.figures / orphan.name).exists():
            orphan.unlink()
            print(f"removed {orphan} (no figure {orphan.name})")
