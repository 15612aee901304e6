"""lwasr: multilingual ASR with Whisper and per-language LoRA language experts."""

__version__ = "0.1.0"
