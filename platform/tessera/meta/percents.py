"""Percentages as every page shows them: one house style.

A percentage reads with the decimal places it is shown to, trailing zeros trimmed, grouped
like any amount, then a narrow no-break space and the sign: *75 %*, *12.5 %*, *85.7 %*,
*1,250 %*. A percent field gives its own places (75.00 is stored, *75 %* is read); a report's
conversion or a KPI's change against the period before is a share (0.857…) shown to one
place. Lists, record pages, exports, report previews and dashboards all write percentages
here (the flow designer's quorum summary follows the same rule in the browser).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

#: U+202F NARROW NO-BREAK SPACE: "75 %" never breaks between the number and its sign.
NARROW_NBSP = "\u202f"


def percent_text(value: Any, places: int = 2, *, share: bool = False, signed: bool = False) -> str:
    """`value` (a number, or its text) as a percentage in the house style: rounded half up
    to `places`, trailing zeros dropped. `share`: the value is a fraction (0.857 is 85.7 %);
    `signed`: a rise shows its plus (+12 %), as a change does. Blank for None or "", and
    anything that is not a number comes back as it was."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return str(value)
    if not number.is_finite():
        return str(value)
    if share:
        number *= 100
    number = number.quantize(Decimal(1).scaleb(-max(0, places)), rounding=ROUND_HALF_UP)
    text = f"{abs(number):,.{max(0, places)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    sign = "-" if number < 0 else "+" if signed and number > 0 else ""
    return f"{sign}{text}{NARROW_NBSP}%"
