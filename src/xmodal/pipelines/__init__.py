"""Pipelines: frozen encoders + fitted preprocessing + trained models, saved as one run directory.

A pipeline is what a user loads (``xmodal.load(RUN_DIR)``) and what the CLI's ``translate`` and the
library call. Pipelines sit above ``training`` and ``features`` and below ``evaluation`` studies,
``library`` and ``cli``.
"""
