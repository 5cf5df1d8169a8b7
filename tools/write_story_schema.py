"""Writes the JSON Schema of the typed story model into docs/export-format.md (between its markers).

Run ``.venv/bin/python tools/write_story_schema.py`` after changing ``ghost_story_factory/model.py``;
the test suite fails while the published schema and the model disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from ghost_story_factory.model import json_schema

DOC = Path(__file__).resolve().parents[1] / "docs" / "export-format.md"
BEGIN = "<!-- story-schema:begin (written by tools/write_story_schema.py) -->"
END = "<!-- story-schema:end -->"


def schema_block() -> str:
    text = orjson.dumps(json_schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    return f"{BEGIN}\n```json\n{text}\n```\n{END}"


def with_schema(doc: str) -> str:
    if BEGIN in doc:
        head, rest = doc.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        return head + schema_block() + tail
    return doc.rstrip("\n") + "\n\n## JSON Schema of the story model\n\n" + schema_block() + "\n"


def main() -> int:
    DOC.write_text(with_schema(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the story schema into {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
