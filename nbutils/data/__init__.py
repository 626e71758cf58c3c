"""The table a run reads and the rows it forgets; torch-free, but for ``tensors``.

``reading`` reads the table, ``column_kinds`` sorts its columns, ``forget_requests`` finds the rows a forget request
names, ``splits`` draws the retain, forget and test rows, and ``description`` writes section 1; ``refusals`` holds
the error each problem is raised as. ``splits.problems(P)`` runs all of it before any training and returns each
problem with its fix; ``tensors.load`` turns the same objects into tensors. Relative paths in ``dataset`` and
``forget`` are resolved from the project root, so they mean the same from the command line, papermill (working
directory ``notebooks/``) and pytest.
"""
