"""Every model's headline figures on the held-out world, measured through the serving path.

The runner (:mod:`.runner`) starts the real mesh, writes the world's asset register into its
Redis, sends each cadence's readings through the public ``AssessBatch`` and flattens the
answers (:mod:`.answers`); one scorer per model (:mod:`.scorers`) turns (answers, truth) into
rows — the served figure beside its naive baseline and goal — judged in one place
(:mod:`.verdict`); :mod:`.report` writes them as Markdown.
"""
