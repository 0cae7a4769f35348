"""transformers' own common tests, run against UAS-Audio's classes.

The mixins come from the source distribution of the *installed* transformers (``transformers_common_tests``
fetches it); the testers below build tiny configs and inputs the way transformers' Voxtral and Qwen2-Audio testers
do. docs/transformers-compat.md says what runs, what the sdist lacks and what stands in for it, and the contracts
these tests settled.
"""

import unittest
from unittest import mock

import numpy as np
import pytest
import torch
from transformers.models.auto import modeling_auto

import transformers_common_tests as common
from uas_audio.audio import frames as audio_frames
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
        window = config.audio_config.window_frames
        num_audio_tokens = [audio_frames.num_audio_tokens(int(n), self.stack_factor, window) for n in frames]

        input_ids = ids_tensor([self.batch_size, self.seq_length], self.vocab_size - 8) + 8  # no special ids
        for row, count in enumerate(num_audio_tokens):
            input_ids[row, 1 : 1 + count] = self.audio_token_id
        attention_mask = torch.ones_like(input_ids)
        inputs = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "input_features": features,
            "input_features_mask": features_mask,
        }
        return config, inputs


# The mixins tell a base model from a model with a head by transformers' own name tables; ours are registered with
# the Auto classes at run time (AutoModel, AutoModelForCausalLM, AutoModelForMultimodalLM), which the tables do not
# see. The same three entries are added to them for the duration of the test class.
_AUTO_NAMES = {
    "MODEL_MAPPING_NAMES": "UASAudioModel",
    "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES": "UASAudioForConditionalGeneration",
    "MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES": "UASAudioForConditionalGeneration",
}


@pytest.mark.usefixtures("one_torch_thread")
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


class UASAudioGenerationTest(unittest.TestCase):
    """Generation checks of our own, learned from transformers' GenerationTesterMixin, whose file
    (tests/generation/test_utils.py) the 5.23 / 5.24 sdists do not ship: assisted decoding (greedy and sampled),
    continuing from a returned cache, and beam search, each on audio prompts and compared with plain greedy search."""

    def setUp(self):
        self.tester = UASAudioModelTester(self, batch_size=1)
        config, self.inputs = self.tester.prepare_config_and_inputs_for_common()
        torch.manual_seed(0)
        self.model = UASAudioForConditionalGeneration(config).eval()
        self.greedy = self.model.generate(**self.inputs, max_new_tokens=6, do_sample=False, eos_token_id=None)

    def test_assisted_decoding_matches_greedy_search(self):
        for seed in (0, 1):  # the same weights, then another model as the assistant
            torch.manual_seed(seed)
            assistant = UASAudioForConditionalGeneration(self.model.config).eval()
            output = self.model.generate(**self.inputs, max_new_tokens=6, do_sample=False, eos_token_id=None,
                                         assistant_model=assistant)
            torch.testing.assert_close(output, self.greedy)

    def test_assisted_decoding_sample_with_top_1_matches_greedy_search(self):
        output = self.model.generate(**self.inputs, max_new_tokens=6, do_sample=True, top_k=1, eos_token_id=None,
                                     assistant_model=self.model)
        torch.testing.assert_close(output, self.greedy)

    def test_generate_continue_from_cache_matches_one_call(self):
        first = self.model.generate(**self.inputs, max_new_tokens=3, do_sample=False, eos_token_id=None,
                                    return_dict_in_generate=True)
        cache = getattr(first, "cache", None) or first.past_key_values
        inputs = {**self.inputs, "input_ids": first.sequences,
                  "attention_mask": torch.ones_like(first.sequences)}
        output = self.model.generate(**inputs, max_new_tokens=3, do_sample=False, eos_token_id=None,
                                     **{"cache" if hasattr(first, "cache") else "past_key_values": cache})
        torch.testing.assert_close(output, self.greedy)

    def test_beam_search_with_one_beam_matches_greedy_and_more_beams_keep_the_prompt(self):
        one_beam = self.model.generate(**self.inputs, max_new_tokens=6, num_beams=1, do_sample=False,
                                       eos_token_id=None)
        torch.testing.assert_close(one_beam, self.greedy)
        beams = self.model.generate(**self.inputs, max_new_tokens=6, num_beams=3, num_return_sequences=2,
                                    do_sample=False, eos_token_id=None)
        prompt = self.inputs["input_ids"]
        self.assertEqual(beams.shape, (2, prompt.shape[1] + 6))
        torch.testing.assert_close(beams[:, : prompt.shape[1]], prompt.expand(2, -1))


class UASAudioEncoderConfigTest(unittest.TestCase):
    def test_config(self):
        tester = ConfigTester(self, config_class=UASAudioEncoderConfig, has_text_modality=False,
                              hidden_size=16, num_hidden_layers=2, num_attention_heads=4)
        tester.run_common_tests()


# ---------------------------------------------------------------------------------------------------------------
# Processor and feature extractor
# ---------------------------------------------------------------------------------------------------------------

ProcessorTesterMixin = common.module("test_processing_common").ProcessorTesterMixin
sequence_common = common.module("test_sequence_feature_extraction_common")
SequenceFeatureExtractionTestMixin = sequence_common.SequenceFeatureExtractionTestMixin


class UASAudioProcessorTest(ProcessorTesterMixin, unittest.TestCase):
    processor_class = UASAudioProcessor
    audio_input_name = "input_features"

    @unittest.skip(reason="UASAudioProcessor takes text and audio only and refuses images with an error, so there "
                   "is no image-token count to compare (the audio variant of this test runs)")
    def test_get_num_multimodal_tokens_matches_processor_call(self):
        pass

    def test_images_are_refused_with_a_clear_error(self):
        processor = self.get_processor()
        with self.assertRaisesRegex(ValueError, "takes text and audio; got images"):
            processor(text=["an image"], images=[np.zeros((8, 8, 3), dtype=np.uint8)])

    @classmethod
    def _setup_feature_extractor(cls):
        return UASAudioFeatureExtractor()

    @classmethod
    def _setup_tokenizer(cls):
        from uas_audio.processing import load_default_tokenizer

        return load_default_tokenizer()


class UASAudioFeatureExtractionTester:
    """The sequence mixin pads and truncates already-extracted features: batches of 7 sequences of 40 to 190
    frames (or all of 200) of ``feature_size`` values, laid out ``(frames, feature_size)`` as ``pad`` takes them."""

    def __init__(self, parent, batch_size=7, min_seq_length=40, max_seq_length=200, feature_size=16):
        self.parent = parent
        self.batch_size = batch_size
        self.min_seq_length = min_seq_length
        self.max_seq_length = max_seq_length
        self.seq_length_diff = (max_seq_length - min_seq_length) // (batch_size - 1)
        self.feature_size = feature_size
        self.padding_value = 0.0
        self.sampling_rate = 16000

    def prepare_feat_extract_dict(self):
        return {"feature_size": self.feature_size, "sampling_rate": self.sampling_rate,
                "padding_value": self.padding_value, "return_attention_mask": True}

    def prepare_inputs_for_common(self, equal_length=False, numpify=False):
        rng = np.random.default_rng(0)
        if equal_length:
            lengths = [self.max_seq_length] * self.batch_size
        else:
            lengths = range(self.min_seq_length, self.max_seq_length, self.seq_length_diff)
        sequences = [rng.uniform(-1, 1, (n, self.feature_size)).astype(np.float32) for n in lengths]
        return sequences if numpify else [sequence.tolist() for sequence in sequences]


class UASAudioFeatureExtractionTest(SequenceFeatureExtractionTestMixin, unittest.TestCase):
    feature_extraction_class = UASAudioFeatureExtractor

    def setUp(self):
        self.feat_extract_tester = UASAudioFeatureExtractionTester(self)
