"""Model loading, conversion and the embedded offline Whisper."""
