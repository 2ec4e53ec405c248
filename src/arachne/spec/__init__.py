"""Graph documents (JSON/YAML): parsing, checking, topology analysis and building."""
