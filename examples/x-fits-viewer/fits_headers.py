"""Print the primary header of every FITS file below a folder (default /data)."""

import pathlib
import sys

BLOCK = 2880
CARD = 80


def primary_header(path: pathlib.Path) -> list[str]:
    cards = []
    with path.open("rb") as stream:
        while block := stream.read(BLOCK):
            for start in range(0, len(block), CARD):
                card = block[start : start + CARD].decode("ascii", "replace").rstrip()
                cards.append(card)
                if card.startswith("END"):
                    return cards
    return cards


if __name__ == "__main__":
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/data")
    for fits in sorted(root.rglob("*.fits")):
        print(f"== {fits}")
        print("\n".join(primary_header(fits)))
