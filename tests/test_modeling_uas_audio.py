"""UASAudioForConditionalGeneration: placeholder scatter, loss, generation, attention backends, checkpointing,
vocabulary changes, save/load and registration, on the tiny model."""

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMultimodalLM

import uas_audio
from uas_audio.audio import frames
from uas_audio.modeling import UASAudioConfig, UASAudioForConditionalGeneration, UASAudioModel
from mel_batches import random_mel_batch

TRANSCRIBE = "Transcribe the following audio content into text."


@pytest.fixture(scope="module")
def model() -> UASAudioForConditionalGeneration:
    return uas_audio.tiny_model(seed=0)


@pytest.fixture(scope="module")
def processor():
    return uas_audio.tiny_processor()



def _audio_batch(config: UASAudioConfig, lengths: list[int], text: tuple[int, ...] = (40, 41, 42)) -> dict:
    """One clip per row, ``text + <|audio_bos|> <|audio|>*n <|audio_eos|> + text``, right-padded with 0."""
    rows = []
    for length in lengths:
        n = frames.num_audio_tokens(length, config.projector_stack_factor)
        audio = [config.audio_bos_token_id] + [config.audio_token_id] * n + [config.audio_eos_token_id]
        rows.append(list(text) + audio + list(text))
    width = max(map(len, rows))
    input_ids = torch.zeros(len(rows), width, dtype=torch.long)
    attention_mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, row in enumerate(rows):
        input_ids[i, : len(row)] = torch.tensor(row)
        attention_mask[i, : len(row)] = 1
    features, mask = random_mel_batch(lengths)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "input_features": features,
            "input_features_mask": mask}


def _conversation(seconds: float, text: str = TRANSCRIBE, seed: int = 0) -> list[dict]:
    audio = np.random.default_rng(seed).standard_normal(int(seconds * 16000)).astype(np.float32) * 0.1
    return [{"role": "user", "content": [{"type": "audio", "audio": audio}, {"type": "text", "text": text}]}]


def _chat_inputs(processor, conversations, padding_side: str = "right"):
    processor.tokenizer.padding_side = padding_side
    return processor.apply_chat_template(
        conversations, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt", padding=True
    )


# --- configuration ---------------------------------------------------------------------------------------


def test_config_exposes_text_config_and_audio_token_as_image_token(model):
    config = model.config
    assert config.get_text_config() is config.text_config
    assert config.text_config.model_type == "qwen2"
    assert config.image_token_id == config.audio_token_id == model.config.audio_token_id
    assert config.tie_word_embeddings is False


def test_config_round_trips_through_json(tmp_path, model):
    model.config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, UASAudioConfig)
    without_path = lambda config: {k: v for k, v in config.to_dict().items() if k != "_name_or_path"}  # noqa: E731
    assert without_path(loaded) == without_path(model.config)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"projector_type": "conv"}, "projector_type"),
        ({"input_mode": "tokens"}, "input_mode"),
        ({"projector_stack_factor": 0}, "projector_stack_factor"),
        ({"num_audio_codes": 4}, "audio_code_start"),
        ({"audio_code_start": 3998, "num_audio_codes": 4}, "do not fit"),
    ],
)
def test_config_rejects_inconsistent_settings(overrides, message):
    with pytest.raises(ValueError, match=message):
        uas_audio.tiny_config(**overrides)


# --- audio placeholders ----------------------------------------------------------------------------------


def test_processor_placeholder_count_equals_encoder_projector_frames(model, processor):
    seconds = [0.05, 1.0, 2.37, 30.0, 31.5, 65.0]
    inputs = _chat_inputs(processor, [_conversation(s, seed=i) for i, s in enumerate(seconds)])
    mel_frames = inputs["input_features_mask"].sum(-1)
    placeholders = (inputs["input_ids"] == model.config.audio_token_id).sum(-1)
    assert placeholders.tolist() == model.num_audio_tokens(mel_frames).tolist()
    assert placeholders.tolist() == [frames.num_audio_tokens(int(n), 4) for n in mel_frames]
    with torch.no_grad():
        audio = model.get_audio_features(inputs["input_features"], inputs["input_features_mask"]).pooler_output
        output = model(**inputs)
    assert audio.shape == (int(placeholders.sum()), model.config.text_config.hidden_size)
    assert output.logits.shape[:2] == inputs["input_ids"].shape


def test_audio_features_replace_placeholders_in_place(model):
    inputs = _audio_batch(model.config, [180, 95])
    with torch.no_grad():
        output = model.model(**inputs)
        audio = model.get_audio_features(inputs["input_features"], inputs["input_features_mask"]).pooler_output
        text_only = model.model.language_model(
            inputs_embeds=model.get_input_embeddings()(inputs["input_ids"]), attention_mask=inputs["attention_mask"]
        )
    assert output.last_hidden_state.shape[:2] == inputs["input_ids"].shape
    torch.testing.assert_close(output.audio_hidden_states, audio)
    # Tokens before the first placeholder see no audio: identical to a text-only pass; later tokens differ.
    first = int((inputs["input_ids"][0] == model.config.audio_token_id).nonzero()[0])
    torch.testing.assert_close(output.last_hidden_state[0, :first], text_only.last_hidden_state[0, :first])
    assert not torch.allclose(output.last_hidden_state[0, first:], text_only.last_hidden_state[0, first:])


def test_placeholders_are_found_from_embeddings_when_no_ids_are_given(model):
    inputs = _audio_batch(model.config, [150, 60])
    embeds = model.get_input_embeddings()(inputs["input_ids"])
    with torch.no_grad():
        from_ids = model(**inputs).logits
        from_embeds = model(**{**inputs, "input_ids": None, "inputs_embeds": embeds}).logits
    torch.testing.assert_close(from_embeds, from_ids)


def test_bfloat16_model_takes_float32_features():
    model = uas_audio.tiny_model().to(torch.bfloat16)
    inputs = _audio_batch(model.config, [120])
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits.float()).all()


def test_placeholder_feature_mismatch_raises(model):
    inputs = _audio_batch(model.config, [180])
    inputs["input_features"], inputs["input_features_mask"] = random_mel_batch([260])
    with pytest.raises(ValueError, match=r"23 audio placeholder tokens .* give 33 audio features"):
        model(**inputs)


def test_placeholders_without_features_are_embedded_as_text(model):
    """The contract of transformers' audio LLMs (Voxtral, Qwen2-Audio): ids alone are text, whatever their value."""
    inputs = _audio_batch(model.config, [100])
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    with torch.no_grad():
        hidden = model.model(input_ids=ids, attention_mask=mask).last_hidden_state
        as_text = model.model.language_model(
            inputs_embeds=model.get_input_embeddings()(ids), attention_mask=mask
        ).last_hidden_state
    torch.testing.assert_close(hidden, as_text)


def test_get_audio_features_returns_encoder_output_with_projected_features(model):
    inputs = _audio_batch(model.config, [180, 95])
    with torch.no_grad():
        output = model.get_audio_features(inputs["input_features"], inputs["input_features_mask"],
                                          output_hidden_states=True)
        as_tuple = model.get_audio_features(inputs["input_features"], inputs["input_features_mask"],
                                            return_dict=False)
    expected_tokens = sum(frames.num_audio_tokens(n, 4) for n in (180, 95))
    assert output.pooler_output.shape == (expected_tokens, model.config.text_config.hidden_size)
    assert output.last_hidden_state.shape == (2, 90, model.config.audio_config.hidden_size)
    assert output.output_lengths.tolist() == [90, 48]
    assert len(output.hidden_states) == model.config.audio_config.num_hidden_layers + 1
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], output.last_hidden_state)


# --- loss ------------------------------------------------------------------------------------------------


def test_loss_is_shifted_cross_entropy_ignoring_minus_100(model):
    inputs = _audio_batch(model.config, [140, 60])
    labels = inputs["input_ids"].masked_fill(inputs["input_ids"] == model.config.audio_token_id, -100)
    labels = labels.masked_fill(inputs["attention_mask"] == 0, -100)
    with torch.no_grad():
        output = model(**inputs, labels=labels)
    logits, targets = output.logits[:, :-1].reshape(-1, output.logits.shape[-1]), labels[:, 1:].reshape(-1)
    expected = torch.nn.functional.cross_entropy(logits, targets, ignore_index=-100)
    torch.testing.assert_close(output.loss, expected)


def test_trl_fused_lm_head_gives_the_model_loss():
    from trl.trainer.utils import add_fused_lm_head

    model = uas_audio.tiny_model(seed=1)
    inputs = _audio_batch(model.config, [150, 70])
    labels = inputs["input_ids"].masked_fill(inputs["input_ids"] == model.config.audio_token_id, -100)
    labels = labels.masked_fill(inputs["attention_mask"] == 0, -100)
    with torch.no_grad():
        plain = model(**inputs, labels=labels).loss
        add_fused_lm_head(model)
        fused = model(**inputs, labels=labels, fused_lm_head=True)
    torch.testing.assert_close(fused.loss, plain, atol=1e-5, rtol=1e-5)


# --- generation ------------------------------------------------------------------------------------------


def test_features_reach_the_prefill_forward_only(model, processor):
    seen = []
    hook = model.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(
            (kwargs.get("input_features") is not None, kwargs["input_ids"].shape[1])
        ),
        with_kwargs=True,
    )
    try:
        inputs = _chat_inputs(processor, [_conversation(2.0)])
        model.generate(**inputs, max_new_tokens=4, min_new_tokens=4, do_sample=False)
    finally:
        hook.remove()
    prompt_length = inputs["input_ids"].shape[1]
    assert seen == [(True, prompt_length), (False, 1), (False, 1), (False, 1)]


def test_batched_left_padded_greedy_generation_equals_one_by_one(model, processor):
    conversations = [
        _conversation(3.1, seed=1),
        _conversation(0.7, "Describe the content of the following audio.", seed=2),
        _conversation(5.4, seed=3),
    ]
    settings = {"max_new_tokens": 8, "do_sample": False}
    batch = _chat_inputs(processor, conversations, padding_side="left")
    with torch.no_grad():
        batched = model.generate(**batch, **settings)[:, batch["input_ids"].shape[1] :]
        for row, conversation in enumerate(conversations):
            single = _chat_inputs(processor, [conversation], padding_side="left")
            alone = model.generate(**single, **settings)[0, single["input_ids"].shape[1] :]
            assert batched[row, : len(alone)].tolist() == alone.tolist()
            assert (batched[row, len(alone) :] == model.generation_config.pad_token_id).all()


def test_expanded_generation_repeats_each_prompts_clips_in_order(model):
    config = model.config
    two_clips = [40] + [config.audio_token_id] * 3 + [41] + [config.audio_token_id] * 2 + [42]
    one_clip = [40, 41] + [config.audio_token_id] * 4 + [42, 43]
    input_ids = torch.tensor([two_clips, one_clip])
    features = torch.arange(3.0)[:, None, None].expand(3, 128, 8)  # clip k is filled with the value k
    mask = torch.ones(3, 8, dtype=torch.long)
    ids, kwargs = model._expand_inputs_for_generation(
        expand_size=2, input_ids=input_ids, input_features=features, input_features_mask=mask
    )
    assert ids.shape == (4, 8)
    assert kwargs["input_features"][:, 0, 0].tolist() == [0.0, 1.0, 0.0, 1.0, 2.0, 2.0]
    assert kwargs["input_features_mask"].shape == (6, 8)


def test_beam_search_over_prompts_with_two_clips():
    model = uas_audio.tiny_model(seed=6)
    single = _audio_batch(model.config, [120])
    double = {k: single[k] for k in ("input_features", "input_features_mask")}
    double["input_features"] = torch.cat([single["input_features"], single["input_features"].flip(-1)])
    double["input_features_mask"] = single["input_features_mask"].repeat(2, 1)
    double["input_ids"] = torch.cat([single["input_ids"], single["input_ids"]], dim=1)
    double["attention_mask"] = torch.ones_like(double["input_ids"])
    with torch.no_grad():
        beams = model.generate(**double, num_beams=2, num_return_sequences=2, max_new_tokens=3, min_new_tokens=3)
    assert beams.shape == (2, double["input_ids"].shape[1] + 3)


def test_eager_and_sdpa_logits_agree():
    inputs = _audio_batch(uas_audio.tiny_config(), [210, 90])
    logits = {}
    for implementation in ("eager", "sdpa"):
        model = uas_audio.tiny_model(seed=2, attn_implementation=implementation)
        assert model.config.audio_config._attn_implementation == implementation
        with torch.no_grad():
            logits[implementation] = model(**inputs).logits
    real = inputs["attention_mask"].bool()
    torch.testing.assert_close(logits["eager"][real], logits["sdpa"][real], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("text_config", "model_class"),
    [({"model_type": "qwen3", "head_dim": 16}, "Qwen3Model"), ({"model_type": "llama"}, "LlamaModel")],
)
def test_qwen3_and_llama_backbones_forward_and_generate(text_config, model_class):
    model = uas_audio.tiny_model(seed=3, text_config=text_config)
    assert type(model.model.language_model).__name__ == model_class
    inputs = _audio_batch(model.config, [120])
    with torch.no_grad():
        output = model(**inputs, labels=inputs["input_ids"])
        generated = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert torch.isfinite(output.loss)
    assert generated.shape == (1, inputs["input_ids"].shape[1] + 3)


# --- training --------------------------------------------------------------------------------------------


def test_gradient_checkpointing_gives_the_same_gradients():
    inputs = _audio_batch(uas_audio.tiny_config(), [160, 70])
    grads = []
    for checkpointing in (False, True):
        model = uas_audio.tiny_model(seed=4).train()
        if checkpointing:
            model.activation_checkpointing_enable({"use_reentrant": False})
        assert model.model.audio_tower.layers[0].gradient_checkpointing is checkpointing
        model(**inputs, labels=inputs["input_ids"]).loss.backward()
        grads.append({name: p.grad for name, p in model.named_parameters() if p.grad is not None})
    assert {"model.audio_tower.layers.0.fc1.weight", "model.multi_modal_projector.linear_1.weight"} <= grads[0].keys()
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], atol=1e-6, rtol=1e-4)


def test_mlp_projector_stacks_frames_then_two_layers():
    model = uas_audio.tiny_model(projector_type="mlp", projector_stack_factor=2)
    projector = model.model.multi_modal_projector
    assert projector.linear_1.in_features == 2 * 64 and projector.linear_2.out_features == 64
    inputs = _audio_batch(model.config, [99])
    with torch.no_grad():
        audio = model.get_audio_features(inputs["input_features"], inputs["input_features_mask"]).pooler_output
    assert audio.shape == (frames.num_audio_tokens(99, 2), 64)


def test_projector_zero_pads_each_clip_tail():
    model = uas_audio.tiny_model()
    projector = model.model.multi_modal_projector
    frames_in = torch.randn(2, 6, 64)
    with torch.no_grad():
        out = projector(frames_in, torch.tensor([6, 5]))  # clip 2: groups [0..3], [4, pad, pad, pad]
        tail = torch.cat([frames_in[1, 4], torch.zeros(3 * 64)])
        expected_tail = projector.linear_1(tail)
    assert out.shape == (2 + 2, 64)
    torch.testing.assert_close(out[3], expected_tail)


def test_discrete_mode_has_no_audio_tower_and_rejects_features():
    model = uas_audio.tiny_model(input_mode="discrete")
    assert model.model.audio_tower is None and model.model.multi_modal_projector is None
    inputs = _audio_batch(model.config, [100])
    with pytest.raises(ValueError, match="discrete"):
        model(**inputs)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([[10, 11, 12]])).logits
    assert logits.shape == (1, 3, 4000 + 16)  # the tiny discrete model's vocabulary ends with 16 code tokens


# --- vocabulary ------------------------------------------------------------------------------------------


def test_resize_token_embeddings_keeps_head_and_configs_in_sync():
    model = uas_audio.tiny_model()
    before = model.get_input_embeddings().weight[:4000].clone()
    model.resize_token_embeddings(4010)
    assert model.get_input_embeddings().weight.shape == (4010, 64)
    assert model.get_output_embeddings().weight.shape == (4010, 64)
    assert model.config.text_config.vocab_size == model.model.language_model.config.vocab_size == 4010
    torch.testing.assert_close(model.get_input_embeddings().weight[:4000], before)
    assert model.get_output_embeddings().weight.data_ptr() != model.get_input_embeddings().weight.data_ptr()
    with torch.no_grad():
        assert model(input_ids=torch.tensor([[4009]])).logits.shape == (1, 1, 4010)


def test_tied_embeddings_follow_the_composite_config(tmp_path):
    untied = uas_audio.tiny_model()
    assert untied.lm_head.weight.data_ptr() != untied.get_input_embeddings().weight.data_ptr()
    tied = uas_audio.tiny_model(tie_word_embeddings=True)
    assert tied.lm_head.weight is tied.get_input_embeddings().weight
    tied.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, use_safetensors=True)
    assert loaded.lm_head.weight is loaded.get_input_embeddings().weight
    torch.testing.assert_close(loaded.lm_head.weight, tied.lm_head.weight)


def test_add_audio_codes_adds_normal_tokens_to_model_and_tokenizer():
    model = uas_audio.tiny_model()
    tokenizer = uas_audio.tiny_processor().tokenizer
    codes = model.add_audio_codes(16, tokenizer=tokenizer)
    assert codes == range(4000, 4016)
    assert (model.config.audio_code_start, model.config.num_audio_codes) == (4000, 16)
    assert model.config.text_config.vocab_size == len(tokenizer) == 4016
    assert tokenizer.convert_tokens_to_ids("<|code_15|>") == 4015
    # normal tokens: they survive decoding with skip_special_tokens, unlike <|audio|>
    ids = tokenizer.convert_tokens_to_ids(["<|audio|>", "<|code_3|>", "<|code_7|>"])
    assert tokenizer.decode(ids, skip_special_tokens=True) == "<|code_3|><|code_7|>"
    with pytest.raises(ValueError, match="already has 16 audio codes"):
        model.add_audio_codes(4, tokenizer=tokenizer)


def test_add_audio_codes_without_tokenizer_appends_rows():
    model = uas_audio.tiny_model()
    assert model.add_audio_codes(8) == range(4000, 4008)
    assert model.get_output_embeddings().weight.shape[0] == 4008


# --- save / load / registration --------------------------------------------------------------------------


def test_save_and_load_give_identical_logits(model, tmp_path):
    inputs = _audio_batch(model.config, [130, 44])
    model.save_pretrained(tmp_path)
    saved = {path.name for path in tmp_path.iterdir()}
    assert "model.safetensors" in saved and not any(name.endswith(".bin") for name in saved)
    assert {"configuration_uas_audio.py", "modeling_uas_audio.py", "generation_config.json"} <= saved
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path, use_safetensors=True)
    assert type(loaded) is UASAudioForConditionalGeneration
    with torch.no_grad():
        torch.testing.assert_close(loaded(**inputs).logits, model(**inputs).logits, atol=0, rtol=0)
    assert loaded.generation_config.eos_token_id == model.generation_config.eos_token_id


def test_saved_config_maps_auto_classes_to_the_copied_files(model, tmp_path):
    import json

    model.save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map == {
        "AutoConfig": "configuration_uas_audio.UASAudioConfig",
        "AutoModel": "modeling_uas_audio.UASAudioModel",
        "AutoModelForCausalLM": "modeling_uas_audio.UASAudioForConditionalGeneration",
        "AutoModelForMultimodalLM": "modeling_uas_audio.UASAudioForConditionalGeneration",
    }


def test_auto_classes_resolve_the_registered_models():
    config = uas_audio.tiny_config()
    assert isinstance(AutoConfig.for_model("uas_audio"), UASAudioConfig)
    assert type(AutoModel.from_config(config)) is UASAudioModel
    assert type(AutoModelForCausalLM.from_config(config)) is UASAudioForConditionalGeneration
    assert type(AutoModelForMultimodalLM.from_config(config)) is UASAudioForConditionalGeneration


def test_tiny_model_is_reproducible_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first, second, other = uas_audio.tiny_model(seed=7), uas_audio.tiny_model(seed=7), uas_audio.tiny_model(seed=8)
    assert torch.equal(torch.get_rng_state(), state)
    weight = "model.multi_modal_projector.linear_1.weight"
    assert torch.equal(first.state_dict()[weight], second.state_dict()[weight])
    assert not torch.equal(first.state_dict()[weight], other.state_dict()[weight])
