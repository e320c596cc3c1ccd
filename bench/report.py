"""Side-by-side tables: measured value, the baseline of the same run, their ratio, the target."""

from __future__ import annotations


def table(title: str, conditions: str, rows: list[tuple[str, str, str, str, str]]) -> str:
    """rows: (measure, measured, baseline, ratio, target verdict)."""
    header = ("measure", "measured", "baseline", "ratio", "target")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    out = [f"\n### {title}", f"_{conditions}_", "", line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out)


def verdict(ok: bool, target: str) -> str:
    return f"{target}: {'met' if ok else 'MISSED'}"
