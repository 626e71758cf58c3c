"""Appending a benchmark's result to benchmarks/results.md (or the file given), after what is already there."""


def append(path, text):
    """Add ``text`` to the Markdown file at ``path`` as a paragraph of its own; start the file if it is missing."""
    previous = path.read_text().rstrip("\n") if path.exists() else "# Benchmark results"
    path.write_text(previous + "\n\n" + text.rstrip("\n") + "\n")
