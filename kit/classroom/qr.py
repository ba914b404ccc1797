"""The join URL as a QR code (segno): for the terminal, and as an SVG for the projector page."""

import io

import segno


def terminal_text(url):
    """The QR code drawn with block characters, two modules a line (fits an 80x24 terminal)."""
    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def svg(url, scale=12):
    """An inline <svg> element (no XML declaration), dark on light, for a page."""
    return segno.make(url, error="m").svg_inline(scale=scale, border=2, dark="#000", light="#fff")
