"""``lwasr export``: a trained system as a standalone Hugging Face model or a CTranslate2 (faster-whisper) one."""
