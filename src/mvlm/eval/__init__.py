"""Evaluation on the six MobileVLM benchmarks (GQA, MMBench, MME, POPE, ScienceQA-IMG, TextVQA).

:mod:`mvlm.eval.metrics` holds the official scoring rules as pure functions over text and numbers;
it imports no torch, so it can be used (and tested) without a model.
"""
