"""Sprites (MTS ``TileOut``): snapshots tiled row-major onto sheets of ``Lines`` x ``Columns`` cells."""

from __future__ import annotations

import hashlib

from PIL import Image, ImageColor

from specrunner.engine.results import Frame
from specrunner.engine.scale import fit
from specrunner.engine.spec import TileSpec


def build_sprites(frames: list[Frame], tile: TileSpec) -> list[Image.Image]:
    """Tile ``frames`` (every ``tile.cell_sel_step``-th) row-major into sprites of ``tile.lines`` x
    ``tile.columns`` cells.

    Every sprite, the last one included, has the full size; empty cells show the background.
    Raises ValueError for an unknown colour.
    """
    if not frames:
        return []
    cell = fit(tile.cell_width, tile.cell_height, frames[0].image.size)
    frames = frames[:: tile.cell_sel_step or 1]  # CellSelStep: the first snapshot, then every step-th
    colour = _background_colour(tile.color, len(frames))
    per_sprite = tile.lines * tile.columns
    return [
        _build_sprite(frames[first : first + per_sprite], tile, cell, colour)
        for first in range(0, len(frames), per_sprite)
    ]


def sprite_size(tile: TileSpec, cell: tuple[int, int]) -> tuple[int, int]:
    """The pixel size of one sprite with ``cell``-sized cells."""
    cell_width, cell_height = cell
    width = 2 * tile.margin + tile.columns * cell_width + (tile.columns - 1) * tile.padding
    height = 2 * tile.margin + tile.lines * cell_height + (tile.lines - 1) * tile.padding
    return width, height


def _background_colour(color: str, frame_count: int) -> tuple[int, int, int]:
    """``color`` as RGB; "random" is derived from the frame count so outputs are reproducible."""
    if color.strip().lower() == "random":
        digest = hashlib.sha256(f"specrunner-tile-{frame_count}".encode()).digest()
        return digest[0], digest[1], digest[2]
    red, green, blue = ImageColor.getrgb(color.strip())[:3]
    return red, green, blue


def _build_sprite(
    frames: list[Frame], tile: TileSpec, cell: tuple[int, int], colour: tuple[int, int, int]
) -> Image.Image:
    sprite = Image.new("RGB", sprite_size(tile, cell), colour)
    cell_width, cell_height = cell
    for position, frame in enumerate(frames):
        line, column = divmod(position, tile.columns)
        left = tile.margin + column * (cell_width + tile.padding)
        top = tile.margin + line * (cell_height + tile.padding)
        image = frame.image
        if image.size != cell:
            image = image.resize(cell, Image.Resampling.BICUBIC)
        sprite.paste(image if image.mode == "RGB" else image.convert("RGB"), (left, top))
    return sprite
