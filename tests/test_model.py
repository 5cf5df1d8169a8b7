"""The typed story model owns the format: the published JSON Schema is the model's, and real stories fit it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import orjson
from jsonschema import Draft202012Validator

from ghost_story_factory.model import json_schema

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
import write_story_schema  # noqa: E402


def _published() -> dict:
    doc = (REPO / "docs" / "export-format.md").read_text(encoding="utf-8")
    block = doc.split(write_story_schema.BEGIN, 1)[1].split(write_story_schema.END, 1)[0]
    return orjson.loads(re.search(r"```json\n(.*)\n```", block, re.S).group(1))


def test_docs_publish_the_models_json_schema() -> None:
    assert _published() == json_schema(), "run tools/write_story_schema.py after changing model.py"


def test_a_generated_story_validates_against_the_published_schema(offline_story_zh: dict) -> None:
    validator = Draft202012Validator(_published())
    errors = list(validator.iter_errors(offline_story_zh))
    assert errors == [], errors[0].message if errors else ""
    broken = orjson.loads(orjson.dumps(offline_story_zh))
    broken["characters"][0]["tree"]["nodes"]["node_0000"]["state"]["PR"] = 101
    assert list(validator.iter_errors(broken)), "a fear above 100 must not validate"
