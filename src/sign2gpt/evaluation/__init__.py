"""Evaluation: decoding outputs scored with fixed, written conventions (spec §10-§11)."""
