"""`psa-sync adopt`, `link` and `unlink`: the projects people made by hand before psa-sync.

``match`` pairs deals and hand-made projects (pure), ``survey`` reads both systems to make the pairs
(writing nothing), ``apply`` links them, and forgets one, through the pipeline's own run session and
load's ``adopt()``, so every exactly-once rule of a run holds (docs/architecture.md §11).
"""
