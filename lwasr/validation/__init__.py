"""Validation metrics that need decoding and scoring (a layer above training): registered into
:mod:`lwasr.training.validation`, which imports them on first use."""
