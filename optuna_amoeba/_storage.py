"""Storage URL helpers shared by the CLI, benchmarks and logs."""

from __future__ import annotations

import re


_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/@\s]*):[^\s/]*@")
_QUERY_PASSWORD = re.compile(r"(?P<key>[?&](?:password|passwd|pwd)=)[^&\s]*", re.IGNORECASE)


def mask_password(text: str) -> str:
    """``text`` with every password in a URL (``user:pass@`` or ``?password=``) as ``***``.

    Works on a URL alone or on any message that contains URLs, e.g. an exception's text.
    """
    masked = _CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)
    return _QUERY_PASSWORD.sub(r"\g<key>***", masked)
