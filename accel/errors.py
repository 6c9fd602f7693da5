"""The one exception type for bad user input.

The CLI turns it into a single line on stderr and exit code 2, so its message must
name the file (when there is one), the field and the offending value.
"""


class AccelError(Exception):
    """Bad input from the user: a config value, a file, a flag."""

    def __init__(self, message: str, *, source: str | None = None, field: str | None = None):
        self.source = source
        self.field = field
        self.message = message
        super().__init__(f"{source}: {message}" if source else message)


def cut(text: str, limit: int = 60) -> str:
    """``text`` itself, cut like :func:`brief` (a name shown without quotes)."""
    return text if len(text) <= limit else f"{text[: limit - 3]}... ({len(text):,} characters)"


def brief(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to about ``limit`` characters: an error quotes what the user
    wrote, not a 100 KB string of it."""
    return cut(repr(value), limit)
