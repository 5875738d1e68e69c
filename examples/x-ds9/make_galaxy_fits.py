"""Writes galaxy.fits, the example's own image: a synthetic spiral galaxy with a few stars on a
noisy sky, 128 x 128 pixels of 16-bit integers, as a minimal FITS file (primary HDU only).

No astropy needed: a FITS header is 80-character cards in 2880-byte blocks, and the data are
big-endian integers padded to a whole block. Deterministic: running it again writes the same file.

    python3 make_galaxy_fits.py [galaxy.fits]
"""

import math
import random
import struct
import sys

SIZE = 128
BLOCK = 2880


def card(key, value, comment=""):
    if isinstance(value, bool):
        text = f"{key:<8}= {'T' if value else 'F':>20}"
    elif isinstance(value, str):
        value = f"'{value:<8}'"
        text = f"{key:<8}= {value:<20}"
    else:
        text = f"{key:<8}= {value:>20}"
    if comment:
        text += f" / {comment}"
    return f"{text:<80}"[:80]


def pixel(x, y, noise):
    dx, dy = x - SIZE / 2 + 0.5, y - SIZE / 2 + 0.5
    radius = math.hypot(dx, dy)
    angle = math.atan2(dy, dx)
    disc = 9000 * math.exp(-radius / 14)
    arms = 2500 * math.exp(-radius / 30) * max(0.0, math.cos(2 * angle - radius / 6)) ** 4
    bulge = 12000 * math.exp(-((radius / 4) ** 2))
    stars = sum(
        peak * math.exp(-((x - sx) ** 2 + (y - sy) ** 2) / 3)
        for sx, sy, peak in ((20, 100, 20000), (105, 30, 14000), (90, 110, 9000), (35, 25, 6000))
    )
    return int(min(32767, 300 + disc + arms + bulge + stars + noise.gauss(0, 40)))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "galaxy.fits"
    noise = random.Random(17)
    cards = [
        card("SIMPLE", True, "conforms to FITS standard"),
        card("BITPIX", 16, "16-bit signed integers"),
        card("NAXIS", 2),
        card("NAXIS1", SIZE),
        card("NAXIS2", SIZE),
        card("OBJECT", "synthetic spiral", "made by make_galaxy_fits.py"),
        card("BUNIT", "ADU"),
        card("ORIGIN", "labforge example x-ds9"),
        f"{'END':<80}",
    ]
    header = "".join(cards).encode("ascii")
    header += b" " * (-len(header) % BLOCK)
    values = [pixel(x, y, noise) for y in range(SIZE) for x in range(SIZE)]
    data = struct.pack(f">{len(values)}h", *values)
    data += b"\0" * (-len(data) % BLOCK)
    with open(path, "wb") as stream:
        stream.write(header + data)


if __name__ == "__main__":
    main()
