"""Charts drawn on the server as SVG, with the numbers written beside the bars.

SVG presentation attributes only (no style attributes, no script), so the console's
Content-Security-Policy holds; each chart has a title and a text alternative.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

ALLOWED = "#2f6f9f"
REFUSED = "#c0392b"
CONSENT = "#3c8d5a"
LAG = "#b7791f"
_LABEL_W = 150
_BAR_W = 250
_ROW_H = 26


def hbar(title: str, rows: Sequence[tuple[str, Sequence[int]]],
         colours: Sequence[str] = (ALLOWED, REFUSED), *, note: Sequence[str] = ()) -> Markup:
    """A horizontal stacked bar per row; each row's figures are written after its bar.

    ``rows`` holds (label, parts), the parts stacked left to right in ``colours``;
    ``note`` names the parts for the figures text ("12 = 10 allowed + 2 refused").
    """
    top = max((sum(parts) for _, parts in rows), default=0) or 1
    height = _ROW_H * max(len(rows), 1) + 8
    width = _LABEL_W + _BAR_W + 140
    out = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>"]
    if not rows:
        out.append('<text x="0" y="18" fill="#6b7785" font-size="13">—</text>')
    for i, (name, parts) in enumerate(rows):
        y = 4 + i * _ROW_H
        shown = name if len(name) <= 21 else name[:20] + "…"
        out.append(f'<text x="{_LABEL_W - 8}" y="{y + 16}" text-anchor="end" '
                   f'font-size="13" fill="#1f2933">{escape(shown)}</text>')
        x = float(_LABEL_W)
        for value, colour in zip(parts, colours, strict=False):
            w = _BAR_W * value / top
            if w > 0:
                out.append(f'<rect x="{x:.1f}" y="{y + 4}" width="{max(w, 1.5):.1f}" '
                           f'height="{_ROW_H - 10}" rx="2" fill="{colour}"/>')
            x += w
        total = sum(parts)
        figures = str(total)
        if len(parts) > 1 and any(parts[1:]):
            figures += " (" + " / ".join(
                f"{v} {n}" for v, n in zip(parts, note, strict=False)) + ")"
        out.append(f'<text x="{x + 6:.1f}" y="{y + 16}" font-size="12" '
                   f'fill="#334e68">{escape(figures)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def columns(title: str, rows: Sequence[tuple[str, Sequence[int]]],
            colours: Sequence[str] = (ALLOWED, REFUSED)) -> Markup:
    """Vertical stacked columns (one per day), the total above each column."""
    n = max(len(rows), 1)
    col = max(min(72, 960 // n), 8)
    height, base = 200, 170
    width = max(col * n + 40, 640)
    top = max((sum(parts) for _, parts in rows), default=0) or 1
    out = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>",
           f'<line x1="20" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#9aa5b1"/>']
    for i, (name, parts) in enumerate(rows):
        x = 24 + i * col
        y = float(base)
        for value, colour in zip(parts, colours, strict=False):
            h = 130 * value / top
            if h > 0:
                y -= h
                out.append(f'<rect x="{x}" y="{y:.1f}" width="{col - 6}" height="{h:.1f}" '
                           f'fill="{colour}"/>')
        out.append(f'<text x="{x + (col - 6) / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" '
                   f'font-size="11" fill="#334e68">{sum(parts)}</text>')
        if n <= 16 or i % max(n // 8, 1) == 0:
            out.append(f'<text x="{x + (col - 6) / 2:.1f}" y="{base + 16}" '
                       f'text-anchor="middle" font-size="10" fill="#52606d">'
                       f"{escape(name[5:])}</text>")
    out.append("</svg>")
    return Markup("".join(out))
