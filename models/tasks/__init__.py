"""Task kinds by configuration: one Transform, one Trainer and one export per kind.

``spec`` (the config's ``task:`` section and its resolution from the data), ``transform``
(``preprocessing_fn``), ``trainer`` (``run_fn``), ``tuner`` (``tuner_fn``), ``export``
(the serving contract of each kind) and ``learned`` (what a Transform learned, read back).
"""
