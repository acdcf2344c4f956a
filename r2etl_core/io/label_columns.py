"""Column-wise parse of a plain labels CSV (``start_us,end_us,label`` rows) on its bytes.

Why: a labels sidecar of a long recording labelled slice by slice has millions of rows; parsing
row by row in Python (csv module, ``int()`` per field) took ~16-46 s for 3 million rows, most of
it making and dropping 9 million field strings. Here the numbers are read straight from the
bytes with numpy and the labels are decoded once per distinct value.

This is an accelerator only, with a narrow notion of "plain": numbers are ``-?[0-9]{1,18}``
(they fit int64), labels decode to at most ``max_label_chars`` characters after stripping,
every non-blank line has exactly two commas. ``parse_plain`` returns None for anything else
(including every malformed row), and the caller's row-by-row reader then decides: so this
module never changes which files are accepted or what an error says.
"""

from __future__ import annotations

import numpy as np

NL, COMMA, MINUS, ZERO = 10, 44, 45, 48
MAX_DIGITS = 18  # 10**18 - 1 < 2**63: any 18-digit number fits int64
CHUNK = 1 << 18  # rows per vectorised step: bounds the temporary index matrices (~40 MB)
WIDE_LABEL = 16  # bytes; wider labels are decoded one by one instead of through np.unique
POW10 = 10 ** np.arange(MAX_DIGITS - 1, -1, -1, dtype=np.int64)

Columns = tuple[np.ndarray, np.ndarray, list[str]]


def nonblank_lines(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) byte offsets of the non-blank lines of ``data`` (``\\n``-separated)."""
    ends = np.flatnonzero(data == NL)
    if len(data) and data[-1] != NL:
        ends = np.append(ends, len(data))
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else ends
    keep = ends > starts
    return starts[keep], ends[keep]


def parse_ints(data: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray | None:
    """The integers in ``data[lo[i]:hi[i]]``; None unless every field is ``-?[0-9]{1,18}``.
    Rows are grouped by digit count (a column usually has one or two), so each group is a
    dense ``[rows, digits]`` byte matrix: one gather, one range check, one dot product."""
    neg = data[lo] == MINUS if len(lo) else np.zeros(0, bool)
    first = lo + neg
    width = hi - first
    if len(lo) and (width.min() < 1 or width.max() > MAX_DIGITS):
        return None  # an empty field, a lone "-", or too many digits for int64
    out = np.empty(len(lo), np.int64)
    for w in np.unique(width).tolist():
        rows = np.flatnonzero(width == w)
        for a in range(0, len(rows), CHUNK):
            chunk = rows[a:a + CHUNK]
            digits = data[first[chunk, None] + np.arange(w)] - np.uint8(ZERO)  # non-digits wrap past 9
            if (digits > 9).any():
                return None
            out[chunk] = digits.astype(np.int64) @ POW10[MAX_DIGITS - w:]
    out[neg] *= -1
    return out


def parse_labels(raw: bytes, data: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 max_label_chars: int) -> list[str] | None:
    """The stripped labels in ``raw[lo[i]:hi[i]]``; None if one is empty or too long. Short
    labels go through np.unique, so each distinct label is decoded once and shared."""
    width = int((hi - lo).max(initial=0))
    if width > WIDE_LABEL:
        names = [raw[a:b].decode("utf-8").strip() for a, b in zip(lo.tolist(), hi.tolist())]
        return names if all(names) and max(map(len, names), default=0) <= max_label_chars else None
    fixed = np.empty(len(lo), f"S{max(width, 1)}")
    cols = np.arange(max(width, 1))
    for a in range(0, len(lo), CHUNK):
        s, e = lo[a:a + CHUNK], hi[a:a + CHUNK]
        pos = s[:, None] + cols
        fixed[a:a + CHUNK] = np.where(pos < e[:, None], data[np.minimum(pos, len(data) - 1)], 0) \
            .astype(np.uint8).view(fixed.dtype).ravel()
    distinct, index = np.unique(fixed, return_inverse=True)
    names = [b.decode("utf-8").strip() for b in distinct.tolist()]  # no NULs: 'S' loses none
    if not all(names) or max(map(len, names), default=0) > max_label_chars:
        return None
    return np.asarray(names, dtype=object)[index].tolist()


def parse_plain(text: str, header: tuple[str, ...], max_label_chars: int) -> Columns | None:
    """(starts, ends, labels) of ``text`` (already checked free of quotes, NULs, ``\\r`` and
    other line breaks than ``\\n``) when its first non-blank line is ``header`` and every
    other non-blank line is a plain, good row; else None."""
    raw = text.encode("utf-8")
    data = np.frombuffer(raw, np.uint8)
    lo, hi = nonblank_lines(data)
    if not len(lo) or tuple(f.strip() for f in raw[lo[0]:hi[0]].decode("utf-8").split(",")) != header:
        return None
    lo, hi = lo[1:], hi[1:]
    commas = np.flatnonzero(data == COMMA)
    first = np.searchsorted(commas, lo)
    if len(lo) and not (np.searchsorted(commas, hi) - first == 2).all():
        return None
    c1, c2 = commas[first] if len(lo) else lo, commas[first + 1] if len(lo) else lo
    starts, ends = parse_ints(data, lo, c1), parse_ints(data, c1 + 1, c2)
    if starts is None or ends is None or (ends <= starts).any():
        return None
    labels = parse_labels(raw, data, c2 + 1, hi, max_label_chars)
    return None if labels is None else (starts, ends, labels)
