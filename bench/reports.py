"""Result files that scripts rewrite while keeping what a person wrote below a marker (no TensorFlow imported:
bench/throughput.py measures start-up and must stay light)."""
import os

NOTES_MARKER = "<!-- notes below this line are written by hand and kept when the script rewrites the file -->"


def write_report(path, lines):
    """Writes ``lines`` to ``path``, keeping whatever was written by hand below the notes marker."""
    kept = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
        if NOTES_MARKER in old:
            kept = old[old.index(NOTES_MARKER) + len(NOTES_MARKER):].strip("\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(list(lines) + ["", NOTES_MARKER, kept]).rstrip("\n") + "\n")
