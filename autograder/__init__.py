"""rnnkit's trusted side: build, sandboxed grading, gradebook, command line."""
import sys

# jsonschema (under nbformat) imports the optional rfc3987_syntax when it is installed (Jupyter's
# jsonschema[format-nongpl] brings it), which compiles 39 lark grammars at import: about 1.2 CPU-seconds of every
# rnnkit command, for the "iri" string formats that no notebook schema uses. Marked absent, jsonschema skips them.
if "jsonschema" not in sys.modules:
    sys.modules.setdefault("rfc3987_syntax", None)
