"""Scoring: per-language WER/CER with Whisper's normalizer, results tables and plots (``lwasr score``)."""
