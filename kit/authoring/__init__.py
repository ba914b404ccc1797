"""The kit's own material: the learner's starter copy (starter.py) and the notebooks' project cells
kept equal to the files in project/ (nbsync.py)."""
