"""Scoring imputations against held-out truth."""
