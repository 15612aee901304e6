"""Knowledge distillation (``lwasr distill``, arXiv 2506.21555): language experts teach one student.

Modules: config (DistillConfig), teachers (base + expert_L as one PeftModel, prompt alignment, the KD loss),
cache (top-k teacher logits on disk, reused by several students), trainer (DistillTrainer, a subclass of the
training loop's Trainer, and :func:`distill`). See docs/distillation.md.
"""
