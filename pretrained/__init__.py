"""Committed checkpoints shipped with the package (see :mod:`zoo.presets`).

Each ``<name>.h5`` holds a trained model and, inside it, its inference settings
(:mod:`zoo.settings`); ``<name>.run.json`` records how it was trained.
"""
