"""The kit's own material: the learner's starter copy (starter.py) and the notebooks' project cells
kept equal to the files in project/ (nbsync.py), and each notebook's cells, words, hand-call cells and
longest code cell against the lesson's goals (lesson_stats.py)."""
