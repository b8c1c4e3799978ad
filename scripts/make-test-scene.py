#!/usr/bin/env python3
"""Draws the photo-like test scene used in the README's classic-filter pictures (a house,
hills, a sun, a tree and textured grass, with soft light and sensor noise), so the pictures
need no third-party photo. Usage: make-test-scene.py OUT.png [SEED]"""
import struct, sys, zlib
import numpy as np

def write_png(path, rgb):
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

def scene(w=256, h=192, seed=7):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(float) * (320.0 / w)
    img = np.zeros((h, w, 3))
    t = y / 240.0
    img[:] = np.stack([0.45 + 0.3 * t, 0.65 + 0.2 * t, 0.95 - 0.1 * t], -1)          # sky
    sun = (x - 250) ** 2 + (y - 50) ** 2
    img[sun < 22 ** 2] = [1.0, 0.9, 0.5]
    hill1 = 150 + 25 * np.sin(x / 45.0)
    hill2 = 175 + 15 * np.sin(x / 30.0 + 1.3)
    img[y > hill1] = [0.35, 0.55, 0.3]
    grass = y > hill2
    img[grass] = np.stack([0.25 + 0.1 * rng.random(grass.sum()), 0.5 + 0.2 * rng.random(grass.sum()),
                           0.2 + 0.05 * rng.random(grass.sum())], -1)
    img[(x > 60) & (x < 140) & (y > 120) & (y < 190)] = [0.85, 0.8, 0.7]               # house
    roof = (y < 120) & (y > 80) & (np.abs(x - 100) < (y - 80) * 1.1)
    img[roof] = [0.6, 0.2, 0.15]
    for wx in (72, 112):
        img[(x > wx) & (x < wx + 16) & (y > 135) & (y < 151)] = [0.2, 0.3, 0.5]
    img[(x > 92) & (x < 108) & (y > 160) & (y < 190)] = [0.4, 0.25, 0.1]               # door
    img[(x > 197) & (x < 205) & (y > 140) & (y < 195)] = [0.35, 0.22, 0.1]             # trunk
    crown = (x - 201) ** 2 / 1.2 + (y - 128) ** 2
    img[crown < 24 ** 2] = [0.15, 0.4, 0.15]
    img *= (1.05 - 0.25 * (x / 320.0))[..., None]                                            # light from the left
    img += rng.normal(0, 0.01, img.shape)                                                # sensor noise
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)

if __name__ == "__main__":
    write_png(sys.argv[1], scene(seed=int(sys.argv[2]) if len(sys.argv) > 2 else 7))
