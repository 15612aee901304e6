"""Which columns of a Hugging Face dataset `lwasr prepare hf` reads (kept light: the CLI reads the defaults without
importing lhotse or datasets)."""

from __future__ import annotations

from dataclasses import dataclass

#: Text columns looked for, in order, when none is named: Common Voice has ``sentence``, FLEURS ``transcription``.
TEXT_COLUMNS = ("text", "sentence", "transcription")
#: Language columns looked for, in order: FLEURS has ``language`` (an English name), Common Voice ``locale``.
LANG_COLUMNS = ("language", "lang", "locale")
#: A DatasetDict's split -> lwasr's split; these are the splits prepared when none are named.
SPLIT_NAMES = {"train": "train", "validation": "dev", "valid": "dev", "dev": "dev", "test": "test"}


@dataclass(frozen=True)
class HfColumns:
    """The columns holding each row's audio, transcript, language and id (None: the first of :data:`TEXT_COLUMNS`
    or :data:`LANG_COLUMNS` the dataset has; no id column: ids are ``<corpus>-<split>-<row>``)."""

    audio: str = "audio"
    text: str | None = None
    lang: str | None = None
    id: str | None = None
