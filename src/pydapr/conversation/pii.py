"""PII scrubbing as Dapr does it (the aavaz-ai/pii-scrubber default scrubber daprd uses).

Each entity has a pattern and a placeholder; matches of the default entities are replaced by the
placeholder (``<EMAIL_ADDRESS>``, ``<PHONE_NUMBER>``, ``<IP>`` ...) unless they fall inside a URL or
a git repository address. The patterns and the way overlapping matches are resolved follow that
library, quirks included, so a text scrubs to the same result as under daprd: its phone pattern
carries a JavaScript-style ``/.../gm`` wrapper as literal characters, so only its middle branch
ever matches; an interval overlapping the previous one starts one character after it; identical
matches of two entities resolve to the later entity, as Go's insertion sort leaves them.
Patterns are ASCII-only for ``\\d``, ``\\s``, ``\\w`` and ``\\b``, as in Go's regexp.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_F = re.ASCII

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_V4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = r"[0-9A-Fa-f]{1,4}"


def _ipv6() -> str:
    branches = [rf"(?:{_H}:){{7}}(?:{_H}|:)", rf"(?:{_H}:){{6}}(?::{_H}|{_V4}|:)"]
    for groups in range(5, -1, -1):
        head = rf"(?:{_H}:){{{groups}}}" if groups else ":"
        branches.append(rf"{head}(?:(?::{_H}){{1,{7 - groups}}}|(?::{_H}){{0,{5 - groups}}}:{_V4}|:)")
    return "(?:" + "|".join(f"(?:{b})" for b in branches) + r")(?:%.+)?\s*"


_IPV4_LOOSE = r"(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
_NANP = r"(?:[2-9]1[02-9]|[2-9][02-8]1|[2-9][02-8][02-9])"
_LINK_TAIL = (
    r"[.](?:[^\s()<>]+|\((?:[^\s()<>]+|(?:\([^\s()<>]+\)))*\))+"
    r"(?:\((?:[^\s()<>]+|(?:\([^\s()<>]+\)))*\)|[^\s!()\[\]{};:'\".,<>?])"
)

_PATTERNS: dict[str, list[re.Pattern[str]]] = {
    "STREET_ADDRESS": [
        re.compile(
            r"(?i)\d{1,4} [\w\s]{1,20}(?:street|st|avenue|ave|road|rd|highway|hwy|square|sq|trail|trl"
            r"|drive|dr|court|ct|park|parkway|pkwy|circle|cir|boulevard|blvd)\W?",
            _F,
        )
    ],
    "CREDIT_CARD": [re.compile(r"(?:(?:(?:\d{4}[- ]?){3}\d{4}|\d{15,16}))", _F)],
    "PHONE": [
        re.compile(
            rf"(?i)(?:(?:\+?1\s*(?:[.-]\s*)?)?(?:\(\s*{_NANP}\s*\)|{_NANP})\s*(?:[.-]\s*)?)?"
            r"(?:[2-9]1[02-9]|[2-9][02-9]1|[2-9][02-9]{2})\s*(?:[.-]\s*)?(?:[0-9]{4})"
            r"(?:\s*(?:#|x\.?|ext\.?|extension)\s*(?:\d+)?)",
            _F,
        ),
        re.compile(
            r"/(?:(?:\+?\d{1,3}[-.\s*]?)?(?:\d\s?){8,11})"
            r"|(?:(?:\+?\d{1,3}[-.\s*]?)?(?:\(?\d{2,3}\)?[-.\s*]?)?\d{2,3}[-.\s*]?\d{2,6})"
            r"|(?:(?:(?:\(\+?\d{1,2}\))|(?:\+?\d{1,2}))\s*\d{2}\s*\d{3}\s*\d{4})/gm",
            _F,
        ),
    ],
    "EMAIL": [
        re.compile(
            r"(?i)([A-Za-z0-9!#$%&'*+/=?^_{|.}~-]+@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
            r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)",
            _F,
        )
    ],
    "IP": [re.compile(_IPV4_LOOSE + "|" + _ipv6(), _F)],
    "ZIP_CODE": [re.compile(r"\b\d{5}(?:[-\s]\d{4})?\b", _F)],
    "PO_BOX": [re.compile(r"(?i)P\.? ?O\.? Box \d+", _F)],
    "SSN": [re.compile(r"(?:\d{3}-\d{2}-\d{4})", _F)],
    "ISBN": [re.compile(r"(?:[\d]-?){9}[\dxX]", _F), re.compile(r"(?:[\d]-?){12}[\dxX]", _F)],
    "MAC_ADDRESS": [re.compile(r"(([a-fA-F0-9]{2}[:-]){5}([a-fA-F0-9]{2}))", _F)],
    "IBAN": [re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{4}\d{7}([A-Z\d]?){0,16}", _F)],
    "GIT_REPO": [re.compile(r"((git|ssh|http(s)?)|(git@[\w\.]+))(:(//)?)([\w\.@\:/\-~]+)(\.git)(/)?", _F)],
    "STRICT_LINK": [re.compile(r"(?:(?:https?://)(?:[a-z0-9.\-]+|www|[a-z0-9.\-])" + _LINK_TAIL + ")", _F)],
}

PLACEHOLDERS = {
    "STREET_ADDRESS": "<STREET_ADDRESS>",
    "CREDIT_CARD": "<CREDIT_CARD>",
    "PHONE": "<PHONE_NUMBER>",
    "EMAIL": "<EMAIL_ADDRESS>",
    "IP": "<IP>",
    "ZIP_CODE": "<ZIP_CODE>",
    "PO_BOX": "<PO_BOX>",
    "SSN": "<US_SSN>",
    "ISBN": "<ISBN>",
    "MAC_ADDRESS": "<MAC_ADDRESS>",
    "IBAN": "<IBAN>",
}

# The default scrubber's entities, in its order (the order decides ties, see _sort).
SCRUBBED = tuple(PLACEHOLDERS)
# Matches inside these are left alone: a URL or repository address is not PII.
IGNORED = ("STRICT_LINK", "GIT_REPO")


@dataclass(slots=True)
class _Match:
    start: int
    end: int
    entity: str


def _matches(entities: tuple[str, ...], text: str) -> list[_Match]:
    found: list[_Match] = []
    for entity in entities:
        for pattern in _PATTERNS[entity]:
            found.extend(
                _Match(m.start(), m.end(), entity) for m in pattern.finditer(text) if m.end() > m.start()
            )
    return found


def _sort(matches: list[_Match]) -> list[_Match]:
    # By start, longest first. Go's sort (an insertion sort at these sizes) with a comparator that
    # is true for equal intervals leaves identical intervals in reverse order of discovery.
    indexed = list(enumerate(matches))
    indexed.sort(key=lambda im: (im[1].start, -im[1].end, -im[0]))
    return [m for _, m in indexed]


def scrub(text: str) -> str:
    """Replace the PII in ``text`` with placeholders, as daprd's ``scrubPII`` does."""
    intervals = _sort(_matches(SCRUBBED, text))
    if not intervals:
        return text
    kept = [intervals[0]]
    for i in range(1, len(intervals)):
        cur, prev = intervals[i], intervals[i - 1]
        if cur.start <= prev.end:
            if prev.end >= cur.end:
                continue
            cur.start = prev.end + 1
        kept.append(cur)
    ignored = _sort(_matches(IGNORED, text))
    scrubbable: list[_Match] = []
    i = 0
    for skip in ignored:
        if i >= len(kept):
            break
        while i < len(kept) and kept[i].end < skip.start:
            scrubbable.append(kept[i])
            i += 1
        while i < len(kept) and kept[i].start <= skip.end:
            i += 1
    scrubbable.extend(kept[i:])
    out: list[str] = []
    pos = 0
    k = 0
    while pos < len(text):
        if k < len(scrubbable) and pos == scrubbable[k].start:
            out.append(PLACEHOLDERS[scrubbable[k].entity])
            pos = scrubbable[k].end
            k += 1
            continue
        out.append(text[pos])
        pos += 1
    return "".join(out)
