"""Training data: manifests, language selection, clear errors, targets with the prompt masked."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import torch
from helpers import make_cuts, write_cuts
from lhotse import CutSet
from lhotse.dataset import DynamicBucketingSampler
from transformers import AutoTokenizer

from lwasr.data.cuts import load_cuts
from lwasr.errors import LwasrError
from lwasr.training import data as D
from lwasr.units.prompt import prompt_ids, text_ids


@pytest.fixture(scope="module")
def cuts_path(tmp_path_factory) -> Path:
    return make_cuts(tmp_path_factory.mktemp("cuts"))


def test_load_from_file_or_dir(cuts_path):
    assert len(load_cuts([cuts_path])) == 8
    named = cuts_path.parent / "toy_pl_train_cuts.jsonl.gz"  # a directory is searched for contract names
    shutil.copy(cuts_path, named)
    assert len(load_cuts([cuts_path.parent])) == 8
    with pytest.raises(LwasrError, match="no such manifest"):
        load_cuts([cuts_path.parent / "nope.jsonl.gz"])


def test_relabel_reads_one_language_as_another_and_names_a_missing_one(cuts_path):
    cuts = load_cuts([cuts_path], split=None, relabel={"pt": "it"})
    assert len(cuts) == 4 and {c.supervisions[0].language for c in cuts} == {"it"}
    assert {c.supervisions[0].custom["orig_language"] for c in cuts} == {"pt"}
    assert {c.supervisions[0].language for c in load_cuts([cuts_path])} == {"pl", "pt"}  # the manifest is untouched
    with pytest.raises(LwasrError, match=r"no cuts for the language\(s\) szl in .*the manifests have: pl, pt"):
        load_cuts([cuts_path], split=None, relabel={"pt": "it", "szl": "pl"})


def test_language_selection_names_present_languages(cuts_path):
    cuts = load_cuts([cuts_path])
    assert {D.cut_lang(c) for c in D.select_languages(cuts, ["pl"])} == {"pl"}
    with pytest.raises(LwasrError, match="language.*it.*have: pl, pt"):
        D.select_languages(cuts, ["it"])


def test_empty_and_too_long_manifests_are_errors(tmp_path):
    CutSet.from_cuts([]).to_file(tmp_path / "empty.jsonl.gz")
    with pytest.raises(LwasrError, match="empty"):
        load_cuts([tmp_path / "empty.jsonl.gz"])
    long = make_cuts(tmp_path / "long", langs=("pl",), per_lang=1, seconds=(31, 31.5))
    with pytest.raises(LwasrError, match="lwasr prepare"):
        D.select_languages(load_cuts([long]), ["pl"])


def test_unknown_language_code_is_an_error(tmp_path):
    path = make_cuts(tmp_path, langs=("pl",), per_lang=1)
    cuts = CutSet.from_file(path)
    bad = [c for c in cuts]
    bad[0].supervisions[0].language = "xx"
    with pytest.raises(LwasrError, match="unknown language code 'xx'"):
        D.select_languages(CutSet.from_cuts(bad), None)


def test_dataset_masks_prompt_and_keeps_eot(cuts_path, tiny_whisper):
    tok = AutoTokenizer.from_pretrained(tiny_whisper)
    cuts = D.select_languages(load_cuts([cuts_path]), ["pl"])
    batch = D.AsrDataset(tok, lang_token=True)[cuts.subset(first=2)]
    assert batch["audio"].shape[0] == 2 and batch["langs"] == ["pl", "pl"]
    prompt = prompt_ids(tok, "pl")
    assert tok.convert_ids_to_tokens(prompt) == [
        "<|startoftranscript|>",
        "<|pl|>",
        "<|transcribe|>",
        "<|notimestamps|>",
    ]
    i = 0
    text = text_ids(tok, batch["texts"][i])
    inputs, labels = batch["decoder_input_ids"][i].tolist(), batch["labels"][i].tolist()
    assert inputs[: len(prompt)] == prompt
    assert labels[: len(prompt) - 1] == [D.IGNORE] * (len(prompt) - 1)
    assert labels[len(prompt) - 1 : len(prompt) - 1 + len(text) + 1] == text + [tok.eos_token_id]
    agnostic = D.AsrDataset(tok, lang_token=False)[cuts.subset(first=2)]
    assert tok.convert_ids_to_tokens(agnostic["decoder_input_ids"][0, :3].tolist())[1] == "<|transcribe|>"


def test_first_per_language_is_a_low_resource_subset(cuts_path):
    cuts = load_cuts([cuts_path])
    small = D.first_per_language(cuts, 3)
    assert [c.id for c in small] == ["pl_0", "pl_1", "pl_2", "pt_0", "pt_1", "pt_2"]
    assert len(D.first_per_language(cuts, 0)) == len(cuts) == len(D.first_per_language(cuts, 99))


def test_speed_perturbation_adds_copies(cuts_path):
    cuts = load_cuts([cuts_path])
    assert len(D.speed_perturbed(cuts, [0.9, 1.1])) == 3 * len(cuts)


@pytest.mark.parametrize(
    ("seconds", "bucketed"), [((1.0, 1.0), False), ((0.5, 0.6, 3.0), False), ((0.5, 3.0, 0.8, 1.2, 2.0, 0.6), True)]
)
def test_too_few_cuts_for_a_bucket_boundary_are_not_bucketed(tmp_path, seconds, bucketed):
    """Two cuts, or three of which one is longer than the others together, in 2 buckets give lhotse no duration
    boundary: its sampler then averaged an empty list (numpy's "Mean of empty slice", seen in the training,
    expansion, distillation and fusion tests). No bucketing instead; with a boundary, still bucketed. Every cut is
    in exactly one batch, and no warning is raised."""
    cuts = load_cuts([write_cuts(tmp_path, [(f"pl_{i}", "pl", d) for i, d in enumerate(seconds)])])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sampler = D.make_sampler(cuts, 4.0, num_buckets=2, shuffle=False, seed=0, world_size=1, rank=0)
        batches = [list(b.ids) for b in sampler]
    assert isinstance(sampler, DynamicBucketingSampler) == bucketed
    assert sorted(i for b in batches for i in b) == sorted(c.id for c in cuts)


def test_skip_first_and_spec_augment(cuts_path):
    cuts = load_cuts([cuts_path])

    def sampler():
        s = D.make_sampler(cuts, 2.0, num_buckets=2, shuffle=True, seed=1, world_size=1, rank=0)
        s.set_epoch(1)
        return s

    full = [list(b.ids) for b in sampler()]
    assert [list(b.ids) for b in D.SkipFirst(sampler(), 2)] == full[2:]
    torch.manual_seed(0)
    feats = torch.randn(2, 80, 100)
    out = D.spec_augment(feats, freq_masks=2, freq_width=10, time_masks=2, time_width=20)
    assert out.shape == feats.shape and (out != feats).any()
