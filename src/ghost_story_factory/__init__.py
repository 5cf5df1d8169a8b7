"""Ghost Story Factory: pregenerates branching ghost-story dialogue graphs with an LLM, resumably."""

__version__ = "0.1.0"
