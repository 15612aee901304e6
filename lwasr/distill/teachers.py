"""The teachers (base + expert_L for an utterance of language L), prompt alignment, and the distillation loss.

All experts sit in one PeftModel as adapters named by language; a batch of mixed languages is taught in one
forward pass with peft's per-sample ``adapter_names``. The teachers always see the prompt their experts were
trained with (normally with the language token), whatever the student's prompt is. Teacher and student are
aligned on the text positions: the loss covers the text + end tokens, never the prompt.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase

from lwasr.features import LogMel
from lwasr.models.trim import set_trimmed_input
from lwasr.training.data import IGNORE
from lwasr.units.experts import Expert, attach_experts, load_base
from lwasr.units.prompt import prompt_ids

#: Teacher targets: full logits ``[N, V]``, or top-k ``(values [N, k], indices [N, k])``.
Targets = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def teacher_inputs(
    tokenizer: PreTrainedTokenizerBase, batch: dict[str, Any], student_lang_token: bool, teacher_lang_token: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The teachers' decoder inputs for a student batch, and the mask of their text + end positions.

    The student's prompt (``n_s`` tokens) is replaced by the teacher's (``n_t``); student position ``p`` (a
    label position, ``p >= n_s - 1``) is teacher position ``p - n_s + n_t``. ``teacher_logits[mask]`` therefore
    lists the same tokens, in the same order, as ``student_logits[labels != -100]``.
    """
    langs = batch["langs"]
    n_s = len(prompt_ids(tokenizer, langs[0] if student_lang_token else None))
    prompts = torch.tensor([prompt_ids(tokenizer, lang if teacher_lang_token else None) for lang in langs])
    ids = torch.cat([prompts, batch["decoder_input_ids"][:, n_s:]], dim=1)
    student_mask = batch["labels"] != IGNORE
    mask = torch.cat([student_mask.new_zeros(len(langs), prompts.shape[1] - 1), student_mask[:, n_s - 1 :]], dim=1)
    return ids, mask


def kd_loss(student_logits: torch.Tensor, teacher: Targets, temperature: float) -> torch.Tensor:
    """Summed ``KL(teacher || student)`` over positions, both softened by ``temperature`` (not yet times tau^2).

    ``student_logits``: ``[N, V]``. With top-k targets the teacher distribution is the softmax over its k
    largest logits (renormalised), and the student's full-vocabulary log-probabilities are read at those ids.
    """
    log_p_student = (student_logits / temperature).log_softmax(-1)
    if isinstance(teacher, tuple):
        values, indices = teacher
        log_p_student = log_p_student.gather(-1, indices.long())
        teacher = values
    log_p_teacher = (teacher.float() / temperature).log_softmax(-1)
    return (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum()


class Teachers:
    """The experts as teachers on one base model (fingerprint-checked), frozen and in eval mode."""

    def __init__(
        self, experts: list[Expert], model_spec: str, device: torch.device, autocast: torch.dtype | None
    ) -> None:
        self.lang_token = experts[0].meta.lang_token
        self.trim = experts[0].meta.trim_encoder_input
        self.autocast = autocast  # the student's autocast dtype (None: float32)
        base = load_base(experts, model_spec)
        if self.trim:
            set_trimmed_input(base)
        self.model: nn.Module = attach_experts(base, experts).to(device).requires_grad_(False)
        self.device = device

    @torch.no_grad()
    def logits(
        self, batch: dict[str, Any], tokenizer: PreTrainedTokenizerBase, logmel: LogMel, student_lang_token: bool
    ) -> torch.Tensor:
        """Teacher logits ``[N, V]`` (float32) at the student's label positions of ``batch`` (see teacher_inputs)."""
        ids, mask = teacher_inputs(tokenizer, batch, student_lang_token, self.lang_token)
        feats = logmel(batch["audio"].to(self.device), trim=self.trim)
        with torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            out = self.model(input_features=feats, decoder_input_ids=ids.to(self.device), adapter_names=batch["langs"])
        return out.logits.float()[mask.to(self.device)]
