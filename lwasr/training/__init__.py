"""`lwasr train`: language experts (one LoRA per language), the shared-LoRA and full fine-tuning baselines.

Modules: config (the one TrainConfig dataclass), data (manifests, sampler, dataset), lora (PEFT), checkpoint
(atomic, exactly resumable checkpoints), ddp (torchrun set-up), loop (the trainer). See docs/training.md.
"""
