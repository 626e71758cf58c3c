"""Writing a benchmark's result: appended to benchmarks/results.md (or the file given), or a page of its own."""


def append(path, text):
    """Add ``text`` to the Markdown file at ``path`` as a paragraph of its own; start the file if it is missing."""
    previous = path.read_text().rstrip("\n") if path.exists() else "# Benchmark results"
    path.write_text(previous + "\n\n" + text.rstrip("\n") + "\n")


def write_or_print(text, path=None):
    """Write ``text`` to ``path`` and say so, or print it when no path is given."""
    if path:
        path.write_text(text)
        print(f"wrote {path}")
    else:
        print(text, end="")
