"""from_components over causal-LM families: the composite must compute what the source LM computes on text.

Each family is a tiny random checkpoint saved by the test. The composite's text-only logits equal the LM's, including
the families that transform their logits after the head (Gemma's final soft-cap, Granite's ``logits_scaling``,
Cohere's ``logit_scale``); MoE LMs keep their router load-balancing loss; save/load, a training step, cached vs
uncached greedy decoding and each attention implementation keep the same numbers.
"""

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    CohereConfig,
    Gemma2Config,
    Gemma3TextConfig,
    GPT2Config,
    GraniteConfig,
    LlamaConfig,
    MixtralConfig,
    Phi3Config,
    Qwen2Config,
    Qwen3Config,
    Qwen3MoeConfig,
    WhisperConfig,
    WhisperForConditionalGeneration,
)

from test_modeling_from_components import _plain_tokenizer
from uas_audio.modeling import UASAudioForConditionalGeneration

SIZE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
MOE = dict(num_experts_per_tok=2, output_router_logits=True, router_aux_loss_coef=0.02)

#: family → (config class, its keyword arguments); sizes are tiny, the family-specific knobs are set to values
#: that change the numbers (so a composite ignoring them fails).
FAMILIES = {
    "qwen2": (Qwen2Config, dict(SIZE)),
    "qwen3": (Qwen3Config, dict(SIZE, head_dim=8)),
    "llama": (LlamaConfig, dict(SIZE)),
    "gemma2": (Gemma2Config, dict(SIZE, head_dim=8, final_logit_softcapping=2.0, attn_logit_softcapping=None)),
    "gemma3": (Gemma3TextConfig, dict(SIZE, head_dim=8, final_logit_softcapping=2.0, sliding_window=4)),
    "phi3": (Phi3Config, dict(SIZE)),
    "gpt2": (GPT2Config, dict(n_embd=32, n_layer=2, n_head=4, n_positions=128)),
    "granite": (GraniteConfig, dict(SIZE, logits_scaling=4.0)),
    "cohere": (CohereConfig, dict(SIZE, logit_scale=0.25)),
    "qwen3_moe": (Qwen3MoeConfig, dict(SIZE, head_dim=8, num_experts=4, moe_intermediate_size=32, **MOE)),
    "mixtral": (MixtralConfig, dict(SIZE, num_local_experts=4, **MOE)),
}

TEXT = torch.tensor([[5, 17, 42, 99, 3, 64, 7, 150]])


@pytest.fixture(scope="module")
def whisper_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("whisper")
    torch.manual_seed(0)
    WhisperForConditionalGeneration(
        WhisperConfig(
            vocab_size=64, num_mel_bins=128, d_model=32, encoder_layers=1, encoder_attention_heads=4,
            encoder_ffn_dim=64, decoder_layers=1, decoder_attention_heads=4, decoder_ffn_dim=64,
            max_target_positions=16, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1,
        )
    ).save_pretrained(path)
    return path


#: in the default run: one of each kind of difference (plain, soft-capped without sdpa, divided, multiplied, MoE,
#: a non-Llama layout); the rest of the matrix runs with the slow tests (`make test-all`)
DEFAULT_RUN = {"qwen2", "gemma2", "granite", "cohere", "mixtral", "gpt2"}


@pytest.fixture(scope="module", params=[
    pytest.param(name, marks=() if name in DEFAULT_RUN else pytest.mark.slow) for name in sorted(FAMILIES)
])
def family(request, tmp_path_factory, whisper_dir):
    """(name, source LM in eval mode, composite in eval mode, size of the LM's own vocabulary)."""
    name = request.param
    config_class, kwargs = FAMILIES[name]
    tokenizer = _plain_tokenizer()
    config = config_class(
        vocab_size=len(tokenizer), eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False, **kwargs
    )
    config._attn_implementation = "eager"
    torch.manual_seed(1)
    lm = AutoModelForCausalLM.from_config(config, attn_implementation="eager")
    lm_dir = tmp_path_factory.mktemp(name)
    lm.save_pretrained(lm_dir)
    tokenizer.save_pretrained(lm_dir)
    lm = AutoModelForCausalLM.from_pretrained(lm_dir, attn_implementation="eager").eval()
    model, _ = UASAudioForConditionalGeneration.from_components(
        audio_encoder=whisper_dir, language_model=lm_dir, stack_factor=2, attn_implementation="eager"
    )
    return name, lm, model.eval(), len(tokenizer)


def _text_logits(model, vocab: int) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=TEXT).logits[..., :vocab]


def test_text_only_logits_equal_the_source_language_model(family):
    name, lm, model, vocab = family
    theirs = _text_logits(lm, vocab)
    torch.testing.assert_close(_text_logits(model, vocab), theirs, atol=1e-5, rtol=1e-5)
    knob = {"gemma2": "final_logit_softcapping", "gemma3": "final_logit_softcapping", "granite": "logits_scaling",
            "cohere": "logit_scale"}.get(name)
    if knob:  # the family's transform is active in this checkpoint: the raw head alone gives other numbers
        with torch.no_grad():
            raw = model.lm_head(model.model(input_ids=TEXT).last_hidden_state)[..., :vocab]
        assert (raw - theirs).abs().max() > 1e-3


def test_moe_router_loss_is_kept(family):
    name, lm, model, vocab = family
    if not getattr(lm.config, "output_router_logits", False):
        assert model(input_ids=TEXT).__class__.__name__ == "CausalLMOutputWithPast"
        return
    with torch.no_grad():
        ours = model(input_ids=TEXT, labels=TEXT)
        theirs = lm(input_ids=TEXT, labels=TEXT)
    assert ours.aux_loss is not None and float(ours.aux_loss) > 0
    torch.testing.assert_close(ours.aux_loss, theirs.aux_loss)
    assert len(ours.router_logits) == lm.config.num_hidden_layers
    # the training loss carries the router term, as the source LM's does
    with torch.no_grad():
        plain = model.loss_function(logits=ours.logits, labels=TEXT, vocab_size=ours.logits.shape[-1])
    torch.testing.assert_close(ours.loss, plain + lm.config.router_aux_loss_coef * ours.aux_loss)


def test_save_and_load_keep_the_numbers(family, tmp_path):
    _, _, model, vocab = family
    model.save_pretrained(tmp_path)
    loaded = UASAudioForConditionalGeneration.from_pretrained(tmp_path).eval()
    torch.testing.assert_close(_text_logits(loaded, vocab), _text_logits(model, vocab))


def test_a_training_step_gives_a_finite_loss_and_moves_the_weights(family):
    _, _, model, _ = family
    model = type(model)(model.config)  # a fresh copy: the fixture's model stays untouched for the other tests
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    before = model.lm_head.weight.detach().clone()
    loss = model(input_ids=TEXT, labels=TEXT).loss
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    assert not torch.equal(before, model.lm_head.weight)


def test_cached_and_uncached_greedy_generation_agree(family):
    _, _, model, _ = family
    settings = dict(max_new_tokens=6, min_new_tokens=6, do_sample=False)
    with torch.no_grad():
        cached = model.generate(TEXT, use_cache=True, **settings)
        uncached = model.generate(TEXT, use_cache=False, **settings)
    assert torch.equal(cached, uncached)


def test_eager_and_sdpa_give_the_numbers_of_the_source_lm(family):
    name, lm, model, vocab = family
    if not lm._supports_sdpa:  # Gemma2: the LM refuses sdpa, and so does the composite, rather than run without it
        with pytest.raises(ValueError, match="does not support"):
            lm.set_attn_implementation("sdpa")
        with pytest.raises(ValueError, match="does not support"):
            model.set_attn_implementation("sdpa")
        assert model.config.get_text_config()._attn_implementation == "eager"
        return
    model.set_attn_implementation("sdpa")
    lm.set_attn_implementation("sdpa")
    try:
        sdpa, theirs = _text_logits(model, vocab), _text_logits(lm, vocab)
    finally:
        model.set_attn_implementation("eager")
        lm.set_attn_implementation("eager")
    torch.testing.assert_close(sdpa, theirs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(sdpa, _text_logits(model, vocab), atol=1e-4, rtol=1e-4)
