import pytest

from lwasr import langcodes
from lwasr.errors import LwasrError


@pytest.mark.parametrize(
    "fleurs,whisper",
    [
        ("pl_pl", "pl"),
        ("pt_br", "pt"),
        ("cmn_hans_cn", "zh"),
        ("nb_no", "no"),
        ("fil_ph", "tl"),
        ("jv_id", "jw"),
        ("yue_hant_hk", "yue"),
        ("cy_gb", "cy"),
        ("ja_jp", "ja"),
    ],
)
def test_fleurs_codes(fleurs, whisper):
    assert langcodes.fleurs_to_whisper(fleurs) == whisper


def test_mls_and_commonvoice_codes():
    assert langcodes.mls_to_whisper("polish") == "pl"
    assert langcodes.mls_to_whisper("mls_portuguese") == "pt"
    assert langcodes.commonvoice_to_whisper("zh-CN") == "zh"
    assert langcodes.commonvoice_to_whisper("pt") == "pt"
    with pytest.raises(LwasrError, match="unknown MLS language"):
        langcodes.mls_to_whisper("klingon")


@pytest.mark.parametrize(
    "code,whisper",
    [
        ("pl", "pl"),
        ("pl_pl", "pl"),
        ("cmn_hans_cn", "zh"),
        ("pt-BR", "pt"),
        ("zh-HK", "yue"),
        ("nb-NO", "no"),
        ("Polish", "pl"),
        ("Mandarin Chinese", "zh"),
        ("Cantonese Chinese", "yue"),
        (" EN ", "en"),
        ("xx", None),
        ("cmn", None),
        ("", None),
    ],
)
def test_dataset_codes(code, whisper):
    """A Hugging Face dataset's language values: Whisper, FLEURS, Common Voice codes and English names."""
    assert langcodes.dataset_to_whisper(code) == whisper


def test_unknown_code_lists_known_codes():
    with pytest.raises(LwasrError, match="unknown language code 'xx'.*pl"):
        langcodes.parse_langs("pl,xx")


def test_the_cached_language_table_cannot_be_edited_by_a_caller():
    table = langcodes.whisper_languages()
    with pytest.raises(TypeError):
        table["xx"] = "Made-up"  # type: ignore[index]
    assert not langcodes.is_whisper_code("xx") and langcodes.whisper_languages()["pl"] == "polish"


def test_cer_languages():
    assert {lang for lang in ("zh", "ja", "th", "lo", "my", "yue", "pl", "el") if langcodes.uses_cer(lang)} == {
        "zh",
        "ja",
        "th",
        "lo",
        "my",
        "yue",
    }


def test_parse_langs_keeps_order_and_drops_duplicates():
    assert langcodes.parse_langs("pl, pt,pl,zh") == ["pl", "pt", "zh"]
