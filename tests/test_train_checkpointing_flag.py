"""Activation checkpointing: on by default in every stage (TRL's default), off when asked under either name.

transformers reads the deprecated ``gradient_checkpointing`` only while ``activation_checkpointing`` is unset, so a
stage default of True under the new name used to override an explicit ``gradient_checkpointing=False`` silently."""

import pytest

from uas_audio.trainers.stage_config import load_recipe


@pytest.mark.parametrize("stage", [1, 2, 3, 4])
def test_checkpointing_is_on_by_default_and_off_when_asked_by_either_name(stage, tmp_path):
    assert load_recipe(stage, output_dir=str(tmp_path)).activation_checkpointing is True
    new = load_recipe(stage, output_dir=str(tmp_path), activation_checkpointing=False)
    assert new.activation_checkpointing is False and new.gradient_checkpointing is False
    with pytest.warns(FutureWarning, match="gradient_checkpointing"):
        old = load_recipe(stage, output_dir=str(tmp_path), gradient_checkpointing=False)
    assert old.activation_checkpointing is False and old.gradient_checkpointing is False
