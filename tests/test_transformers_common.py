"""transformers' own common tests, run against UAS-Audio's classes.

The mixins come from the source distribution of the *installed* transformers (``transformers_common_tests``
fetches it); the testers below build tiny configs and inputs the way transformers' Voxtral and Qwen2-Audio testers
do. Where a common test does not apply to a deliberate design of ours, it is skipped with ``unittest.skip`` and the
reason, and listed in docs/transformers-compat.md (a test keeps the two lists equal).
"""

import unittest
from unittest import mock

import numpy as np
import pytest
import torch
from transformers.models.auto import modeling_auto

import transformers_common_tests as common
from uas_audio.modeling import (
    UASAudioConfig,
    UASAudioEncoderConfig,
    UASAudioForConditionalGeneration,
    UASAudioModel,
)
from uas_audio.processing import UASAudioFeatureExtractor, UASAudioProcessor

modeling_common = common.module("test_modeling_common")
configuration_common = common.module("test_configuration_common")
ModelTesterMixin = modeling_common.ModelTesterMixin
GenerationTesterMixin = common.module("generation.test_utils").GenerationTesterMixin
ConfigTester = configuration_common.ConfigTester
TrainingTesterMixin = common.module("test_training_mixin").TrainingTesterMixin
floats_tensor, ids_tensor = modeling_common.floats_tensor, modeling_common.ids_tensor


# ---------------------------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------------------------


class UASAudioModelTester:
    """Tiny UAS-Audio configs and inputs: a 2-layer 16-wide encoder, a 2-layer 32-wide Qwen2, 3 clips of at most
    ``feat_seq_length`` mel frames, one clip per row placed right after the first token."""

    base_model_class = UASAudioModel
    causal_lm_class = UASAudioForConditionalGeneration

    def __init__(self, parent, batch_size=3, seq_length=12, feat_seq_length=32, vocab_size=99, is_training=True):
        self.parent = parent
        self.batch_size = batch_size
        self.seq_length = seq_length
        self.feat_seq_length = feat_seq_length
        self.vocab_size = vocab_size
        self.is_training = is_training
        self.pad_token_id, self.eos_token_id, self.bos_token_id = 1, 2, None
        self.audio_token_id, self.audio_bos_token_id, self.audio_eos_token_id = 3, 4, 5
        self.speech_bos_token_id, self.speech_eos_token_id = 6, 7
        self.stack_factor = 2
        self.text_config = {
            "model_type": "qwen2",
            "vocab_size": vocab_size,
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 64,
            "pad_token_id": self.pad_token_id,
            "eos_token_id": self.eos_token_id,
            "bos_token_id": self.bos_token_id,
        }
        self.audio_config = {
            "num_mel_bins": 16,
            "hidden_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 32,
            "max_source_positions": 8,  # 16-frame windows: the 32-frame clips span two
        }
        # names the mixins read off the tester
        self.hidden_size = self.text_config["hidden_size"]
        self.num_hidden_layers = self.text_config["num_hidden_layers"]
        self.num_attention_heads = self.text_config["num_attention_heads"]
        self.encoder_seq_length = seq_length

    def get_config(self) -> UASAudioConfig:
        return UASAudioConfig(
            audio_config=dict(self.audio_config),
            text_config=dict(self.text_config),
            projector_stack_factor=self.stack_factor,
            audio_token_id=self.audio_token_id,
            audio_bos_token_id=self.audio_bos_token_id,
            audio_eos_token_id=self.audio_eos_token_id,
            speech_bos_token_id=self.speech_bos_token_id,
            speech_eos_token_id=self.speech_eos_token_id,
        )

    def clip_frames(self) -> list[int]:
        """Real mel frames of each clip: the first is shorter, so the frame mask matters."""
        return [self.feat_seq_length - 8] + [self.feat_seq_length] * (self.batch_size - 1)

    def prepare_config_and_inputs_for_common(self):
        config = self.get_config()
        frames = torch.tensor(self.clip_frames())
        features = floats_tensor([self.batch_size, self.audio_config["num_mel_bins"], self.feat_seq_length])
        features_mask = (torch.arange(self.feat_seq_length)[None, :] < frames[:, None]).long()
        num_audio_tokens = UASAudioModel.num_audio_tokens(_NumTokens(config), frames)

        input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size - 8) + 8  # no special ids
        for row, count in enumerate(num_audio_tokens.tolist()):
            input_ids[row, 1 : 1 + count] = self.audio_token_id
        attention_mask = torch.ones_like(input_ids)
        inputs = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "input_features": features,
            "input_features_mask": features_mask,
        }
        return config, inputs


class _NumTokens:
    """Just enough of a model for ``UASAudioModel.num_audio_tokens`` (it only reads the config)."""

    def __init__(self, config):
        self.config = config


# The mixins tell a base model from a model with a head by transformers' own name tables; ours are registered with
# the Auto classes at run time (AutoModel, AutoModelForCausalLM, AutoModelForMultimodalLM), which the tables do not
# see. The same three entries are added to them for the duration of the test class.
_AUTO_NAMES = {
    "MODEL_MAPPING_NAMES": "UASAudioModel",
    "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES": "UASAudioForConditionalGeneration",
    "MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES": "UASAudioForConditionalGeneration",
}


class UASAudioModelTest(ModelTesterMixin, GenerationTesterMixin, TrainingTesterMixin, unittest.TestCase):
    all_model_classes = (UASAudioModel, UASAudioForConditionalGeneration)
    pipeline_model_mapping = {}
    _is_composite = True
    model_tester = None  # set per test in setUp (TrainingTesterMixin declares it abstract)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._auto_names = [
            mock.patch.dict(getattr(modeling_auto, table), {UASAudioConfig.model_type: name})
            for table, name in _AUTO_NAMES.items()
        ]
        for patch in cls._auto_names:
            patch.start()

    @classmethod
    def tearDownClass(cls):
        for patch in cls._auto_names:
            patch.stop()
        super().tearDownClass()

    def setUp(self):
        self.model_tester = UASAudioModelTester(self)
        self.config_tester = ConfigTester(self, config_class=UASAudioConfig, has_text_modality=False)

    def test_config(self):
        self.config_tester.run_common_tests()


class UASAudioEncoderConfigTest(unittest.TestCase):
    def test_config(self):
        tester = ConfigTester(self, config_class=UASAudioEncoderConfig, has_text_modality=False,
                              hidden_size=16, num_hidden_layers=2, num_attention_heads=4)
        tester.run_common_tests()
