"""The control characters no cleaned text keeps: cleaning deletes them (`stages.clean.clean_text`) and the
`cleaned` contract rejects a text that still has one (`stages.validate`)."""

from __future__ import annotations

import re

# C0 controls and DEL, except tab, line feed, form feed and carriage return (cleaning turns form feeds, vertical
# tabs and the ASCII separators U+001C-U+001F into whitespace before it deletes the rest)
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
