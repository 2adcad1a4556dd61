"""``redact``: a secret is masked in every form a message may carry it in, and nothing else is."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

import pytest

from specrunner.core.secrets import MASK, redact

TOKEN = "CAIS8gF1q6Ft5B2yfSjIr5bSEsLcr/Vv0YWGZ+nSrmRv=OeVbhqP/zxY==" + "x" * 200  # STS tokens are long
SECRET = 'odd secret: "quoted" \\ & <tag> é 日本 😀'


def lower_hex(s: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), s)


def forms(s: str) -> dict[str, str]:
    return {
        "raw": s,
        "quote safe=''": quote(s, safe=""),
        "quote (keeps /)": quote(s),
        "quote_plus": quote_plus(s),
        "quote_plus safe=''": quote_plus(s, safe=""),
        "quote, lower-case hex": lower_hex(quote(s, safe="")),
        "quote_plus, lower-case hex": lower_hex(quote_plus(s)),
        "SDK percent-encoding": quote(s, safe="~").replace("+", "%20").replace("*", "%2A"),
        "json": json.dumps(s)[1:-1],
        "json, non-ASCII kept": json.dumps(s, ensure_ascii=False)[1:-1],
        "json, / escaped": json.dumps(s)[1:-1].replace("/", "\\/"),
        "json, upper-case \\u": re.sub(
            r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), json.dumps(s)[1:-1]
        ),
        "encoded twice": quote(quote(s, safe=""), safe=""),
        "xml": s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"),
        "numeric references": "".join(f"&#{ord(c)};" for c in s),
        "hex references": "".join(f"&#x{ord(c):X};" for c in s),
    }


@pytest.mark.parametrize("secret", [TOKEN, SECRET], ids=["sts-token", "odd-characters"])
@pytest.mark.parametrize("form", list(forms("x")))
def test_every_form_is_masked(secret: str, form: str) -> None:
    encoded = forms(secret)[form]
    text = f"The request failed: SecurityToken={encoded}&Version=2014-06-18 (echoed)"
    out = redact(text, [secret])
    assert out == f"The request failed: SecurityToken={MASK}&Version=2014-06-18 (echoed)"
    assert encoded not in out


def test_a_mix_of_forms_in_one_token_is_masked() -> None:
    """quote() keeps '/' but encodes '+'; some servers lower-case part of the hex: all one token."""
    mixed = TOKEN.replace("/", "%2f", 1).replace("+", "%2B").replace("=", "\\u003d", 1)
    assert redact(f"[{mixed}]", [TOKEN]) == f"[{MASK}]"


def test_every_secret_is_masked_and_missing_ones_are_skipped() -> None:
    text = f"secret {quote_plus(SECRET)} and token {quote(TOKEN, safe='')}"
    assert redact(text, [SECRET, None, "", TOKEN]) == f"secret {MASK} and token {MASK}"
    assert redact(text, []) == text
    assert redact(text, [None]) == text


def test_a_secret_inside_another_is_masked_with_the_longer_one() -> None:
    outer = "abc" + TOKEN + "xyz"
    assert redact(f"<{outer}>", [TOKEN, outer]) == f"<{MASK}>"


def test_other_text_is_left_alone() -> None:
    text = "InvalidParameter: the parameter SnapshotConfig is invalid (%2F is a slash); RequestId 1-2-3"
    assert redact(text, [TOKEN, SECRET]) == text
    near_miss = TOKEN[:-1]  # a different value: not the secret
    assert redact(near_miss, [TOKEN]) == near_miss


def test_base64_of_a_secret_is_not_looked_for() -> None:
    """Documented limit: a base64 form would need decoding every base64-looking run of a message."""
    b64 = base64.b64encode(TOKEN.encode()).decode()
    assert redact(b64, [TOKEN]) == b64
