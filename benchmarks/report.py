"""BENCHMARKS.md is written by several benchmarks, one section each: a rerun replaces its own section."""

from __future__ import annotations

import re
from pathlib import Path


def write_section(path: Path, text: str) -> None:
    """Put `text` into the Markdown file `path` in place of the part under the same heading.

    `text` starts with its heading: `# ...` is the file's head (everything before the first `## `), `## Title`
    the section of that title, appended when the file has none yet. The other parts are kept as they are.
    Headings match exactly, and a line starting `## ` inside a code block would split there: the
    benchmarks write neither."""
    text = text.strip("\n") + "\n"
    heading = text.split("\n", 1)[0]
    parts = re.split(r"(?m)^(?=## )", path.read_text()) if path.exists() else [""]
    parts = [part.strip("\n") + "\n" for part in parts]
    if heading.startswith("# "):
        parts[0] = text
    else:
        titled = [i for i, part in enumerate(parts) if part.split("\n", 1)[0] == heading]
        if titled:
            parts[titled[0]] = text
        else:
            parts.append(text)
    path.write_text("\n".join(part for part in parts if part.strip()))
