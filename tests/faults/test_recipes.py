"""Recipe faults: bad options, paths with spaces, stages without their inputs, a stage that fails.

Every test here but the space test stops before any training: an option error or a missing input is found
before anything is loaded. Outputs go to tmp dirs (``--data``, ``--expdir``), never into the source tree.
"""

from __future__ import annotations

import pytest
from helpers import fake_manifests, run_recipe, tmp_dirs


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--stage", "foo", "--stage must be a whole number >= 1, not 'foo'"),
        ("--ngpu", "two", "--ngpu must be a whole number >= 0, not 'two'"),
        ("--stop-stage", "0", "--stop-stage must be a whole number >= 1, not '0'"),
        ("--expert-steps", "-5", "--expert-steps must be a whole number >= 1, not '-5'"),
        ("--max-duration", "0", "--max-duration must be a number of seconds > 0, not '0'"),
        ("--decode-max-duration", "fast", "--decode-max-duration must be a number of seconds > 0, not 'fast'"),
        ("--train-set", "lora_rank 8", "--train-set 'lora_rank 8' must be key=value settings separated by spaces"),
        ("--fusion-methods", "sum learned_layer_relu", "learned_layer_relu is not learned_<gate>_<fn>"),
        ("--fusion-epochs", "one", "--fusion-epochs must be a whole number >= 0, not 'one'"),
        ("--decode-scenario", "aware,agnostic", "--decode-scenario must be both, aware or agnostic"),
    ],
)
def test_a_bad_option_value_is_one_line_naming_it(tmp_path, option, value, message):
    result = run_recipe("espeak8", option, value, *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "unbound variable" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "exp").exists(), "a usage error must come before the recipe writes anything"


def test_stop_stage_before_stage_is_an_error(tmp_path):
    result = run_recipe("espeak8", "--stage", "5", "--stop-stage", "3", *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2
    assert "--stop-stage 3 is before --stage 5" in result.stderr


def test_quick_profile_on_one_language_skips_the_expansion_and_says_why(tmp_path):
    result = run_recipe("espeak8", "--quick", "--langs", "pl", "--stage", "8", *tmp_dirs(tmp_path), "--stop-stage", "8")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "--langs pl has no other one: no expansion (stage 8)" in result.stdout
    assert "=== stage 8 done" in result.stdout


def test_expansion_of_every_language_is_an_error(tmp_path):
    args = ("--quick", "--langs", "pl", "--expand-langs", "pl", *tmp_dirs(tmp_path))
    result = run_recipe("espeak8", *args, timeout=60)
    assert result.returncode == 2
    assert "--expand-langs pl leaves no base language in --langs pl" in result.stderr


def test_expansion_of_a_language_outside_langs_is_an_error(tmp_path):
    result = run_recipe("espeak8", "--langs", "pl,it", "--expand-langs", "da", *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2
    assert "--expand-langs: da is not one of --langs pl,it" in result.stderr


def test_fleurs8_stage3_without_stage1_data_names_stage1_and_loads_no_model(tmp_path):
    """The design card's `run.sh --stage 3` on a fresh machine: no hub requests, no traceback, the fix."""
    result = run_recipe("fleurs8", "--stage", "3", *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    missing = tmp_path / "data" / "manifests" / "fleurs_pl_train_cuts.jsonl.gz"
    assert f"stage 3 needs the manifests of stage 1: {missing} is missing (and 15 more)" in result.stderr
    assert "--stage 1 --stop-stage 1" in result.stderr.splitlines()[-1]
    for noise in ("Traceback", "Retrying", "huggingface.co", "stage 3 failed"):
        assert noise not in result.stdout + result.stderr


def test_stage5_without_experts_names_stage3(tmp_path):
    fake_manifests(tmp_path, "synth", ["pl", "it"], ["train", "dev", "test"])
    result = run_recipe("espeak8", "--langs", "pl,it", "--stage", "5", *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    expert = tmp_path / "exp" / "t" / "experts" / "pl" / "lwasr.json"
    assert f"stage 5 needs the experts of stage 3: {expert} is missing (and 1 more)" in result.stderr
    assert "--stage 3 --stop-stage 3" in result.stderr


@pytest.mark.parametrize(("baselines", "missing"), [("shared", "shared"), ("full", "full"), ("shared full", "shared")])
def test_stage5_needs_only_the_baselines_given(tmp_path, baselines, missing):
    """--baselines shared (experts against shared LoRA only) does not ask stage 4 for full fine-tuning."""
    fake_manifests(tmp_path, "synth", ["pl"], ["train", "dev", "test"])
    expert = tmp_path / "exp" / "t" / "experts" / "pl" / "lwasr.json"
    expert.parent.mkdir(parents=True)
    expert.touch()
    args = ("--langs", "pl", "--baselines", baselines, "--stage", "5", *tmp_dirs(tmp_path))
    result = run_recipe("espeak8", *args, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    unit = tmp_path / "exp" / "t" / missing / "lwasr.json"
    more = " (and 1 more)" if " " in baselines else ""
    assert f"stage 5 needs the baselines of stage 4: {unit} is missing{more}" in result.stderr


@pytest.mark.parametrize(
    ("baselines", "bad"), [("shared lora", "lora"), ("shared_nolang full_nolang_x", "full_nolang_x")]
)
def test_an_unknown_baseline_is_an_error(tmp_path, baselines, bad):
    result = run_recipe("espeak8", "--baselines", baselines, *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2
    assert f"--baselines: {bad} is not shared, full, shared_nolang or full_nolang" in result.stderr
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize("routing", ["base lid-x", "router_soft0", "router_softx", "Shared"])
def test_an_unknown_expert_routing_is_an_error(tmp_path, routing):
    result = run_recipe("espeak8", "--expert-routing", routing, *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    bad = routing.split()[-1]
    assert f"--expert-routing: {bad} is not base, router, router_soft<K>" in result.stderr
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize(("routing", "stage", "maker"), [("distilled_agnostic", 7, 7)])
def test_routing_by_a_missing_system_names_its_stage_before_any_decode(tmp_path, routing, stage, maker):
    """--expert-routing SYSTEM (route by its language ID) needs SYSTEM: the stage that routes by it (5, or the
    stage that builds a fused or distilled one) says which stage builds it, before decoding anything."""
    fake_manifests(tmp_path, "synth", ["pl"], ["train", "dev", "test"])
    expert = tmp_path / "exp" / "t" / "experts" / "pl" / "lwasr.json"
    expert.parent.mkdir(parents=True)
    expert.write_text("{}")
    args = ("--langs", "pl", "--baselines", "", "--expert-routing", f"base {routing}", "--distill-steps", "0")
    result = run_recipe("espeak8", *args, "--stage", str(stage), *tmp_dirs(tmp_path), "--stop-stage", str(stage))
    assert result.returncode == 2, result.stdout + result.stderr
    unit = tmp_path / "exp" / "t" / routing / "lwasr.json"
    needs = f"stage {stage} needs the system that routes the experts (--expert-routing {routing}): {unit}"
    assert needs in result.stderr
    assert f"--stage {maker} --stop-stage {maker}" in result.stderr
    assert not list((tmp_path / "exp" / "t").glob("log/decode_*.log"))


def test_routing_by_a_missing_system_of_the_users_says_no_stage_makes_it(tmp_path):
    """A stage-5 routing that is no baseline names a system of the user's: no stage makes it, so no rerun of
    stage 4 is suggested (it trained nothing, and following it looped)."""
    fake_manifests(tmp_path, "synth", ["pl"], ["train", "dev", "test"])
    expert = tmp_path / "exp" / "t" / "experts" / "pl" / "lwasr.json"
    expert.parent.mkdir(parents=True)
    expert.write_text("{}")
    args = ("--langs", "pl", "--baselines", "", "--expert-routing", "base mine", "--stage", "5", "--stop-stage", "5")
    result = run_recipe("espeak8", *args, *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    unit = tmp_path / "exp" / "t" / "mine" / "lwasr.json"
    needs = f"stage 5 needs the system that routes the experts (--expert-routing mine): {unit} is missing"
    assert f"{needs}; no stage of this recipe makes it" in result.stderr
    assert "--stop-stage" not in result.stderr and not list((tmp_path / "exp" / "t").glob("log/decode_*.log"))


def test_routing_by_a_baseline_not_in_baselines_names_the_missing_value(tmp_path):
    """--expert-routing shared_nolang --baselines '': stage 5 used to suggest a stage-4 run that trains nothing."""
    args = ("--baselines", "", "--expert-routing", "base shared_nolang", "--stage", "5", "--stop-stage", "5")
    result = run_recipe("espeak8", *args, *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--expert-routing shared_nolang routes the experts by the shared_nolang baseline, which --baselines ''" in (
        result.stderr
    )
    assert "add shared_nolang to --baselines" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "exp").exists()


@pytest.mark.parametrize(("option", "value", "bad"), [("--lrs", ".", "."), ("--full-lrs", "1e-5 0", "0")])
def test_a_learning_rate_that_is_no_positive_number_is_refused_before_stage3(tmp_path, option, value, bad):
    """--lrs "." or "0" used to pass the recipe's checks and fail inside stage 3."""
    result = run_recipe("espeak8", option, value, "--stage", "3", "--stop-stage", "3", *tmp_dirs(tmp_path), timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{option} '{value}' must be learning rates separated by spaces" in result.stderr
    assert f": {bad} is not a number > 0" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "exp").exists()


def test_distill_init_from_a_missing_fusion_names_stage6(tmp_path):
    fake_manifests(tmp_path, "synth", ["pl", "it"], ["train", "dev", "test"])
    for lang in ("pl", "it"):
        (tmp_path / "exp" / "t" / "experts" / lang).mkdir(parents=True)
        (tmp_path / "exp" / "t" / "experts" / lang / "lwasr.json").write_text("{}")
    args = ("--langs", "pl,it", "--distill-steps", "2", "--distill-init", "fused_svd", "--stage", "7")
    result = run_recipe("espeak8", *args, *tmp_dirs(tmp_path), "--stop-stage", "7", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "stage 7 needs the stage-6 system of --distill-init fused_svd" in result.stderr
    assert "--stage 6 --stop-stage 6" in result.stderr


def test_a_failing_stage_says_which_and_where_its_log_is(tmp_path):
    fake_manifests(tmp_path, "synth", ["pl"], ["test"])
    args = ("--langs", "pl", "--expand-langs", "", "--model", str(tmp_path / "no-model"), "--stage", "2")
    result = run_recipe("espeak8", *args, *tmp_dirs(tmp_path), "--stop-stage", "2", timeout=120)
    assert result.returncode != 0
    log = tmp_path / "exp" / "t" / "log" / "decode_zeroshot_both.log"
    assert f"=== stage 2 failed (exit status {result.returncode}); its log: {log}" in result.stderr
    assert "lwasr decode" in log.read_text()


@pytest.mark.slow
def test_paths_with_spaces_reach_training(tmp_path, tiny_whisper):
    """--data and --expdir with spaces through stages 1 and 3 (options used to be expanded unquoted)."""
    root = tmp_path / "my data"
    args = ["--quick", "--model", str(tiny_whisper), "--langs", "pl", "--expand-langs", "", "--expert-steps", "1"]
    args += tmp_dirs(root)
    sizes = ["--train-utts", "2", "--dev-utts", "1", "--test-utts", "1"]
    prepared = run_recipe("espeak8", *args, *sizes, "--stop-stage", "1", timeout=300)
    assert prepared.returncode == 0, prepared.stdout[-3000:] + prepared.stderr[-3000:]
    trained = run_recipe("espeak8", *args, "--stage", "3", "--stop-stage", "3", timeout=300)
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    assert (root / "exp" / "t" / "experts" / "pl" / "lwasr.json").is_file()


@pytest.mark.parametrize("value", ["0.2 nan", "0.2,0.4", "x"])
def test_fusion_lambdas_that_are_no_numbers_are_refused_up_front(tmp_path, value):
    """--fusion-lambdas used to reach stage 6's lwasr fuse unchecked, after hours of stages 1-5."""
    result = run_recipe(
        "espeak8", "--fusion-lambdas", value, "--stage", "3", "--stop-stage", "3", *tmp_dirs(tmp_path), timeout=60
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"--fusion-lambdas '{value}' must be numbers separated by spaces" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "exp").exists()
