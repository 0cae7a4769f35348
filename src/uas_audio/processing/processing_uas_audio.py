"""UASAudioProcessor: log-mel features plus text with each audio placeholder expanded to its exact length.

Every ``<|audio|>`` in the text becomes ``<|audio_bos|>`` + ``num_audio_tokens(frames)`` copies of
``<|audio|>`` + ``<|audio_eos|>``, the number of vectors the encoder and projector produce for that clip: the
encoder family's rule (``encoder_family``, ``window_frames``) stacked by ``stack_factor``, from
``uas_audio.modeling.audio_encoders``, the one definition both sides use. Features of a batch are one row per clip, in
the order the clips appear across the batch (row by row, left to right); the model scatters row ``k``'s projected
frames into the ``k``-th placeholder run. Text-only rows simply own no feature rows.

In ``input_mode="discrete"`` audio is not featurised: a speech encoder (a ``UASSpeechTokenizer``, anything with
``encode(wav) -> list[int]`` or a plain callable) turns each clip into codes written as
``<|audio_bos|><|code_i|>…<|audio_eos|>``. A ``UASSpeechTokenizer`` encoder travels with the processor:
``save_pretrained`` writes it (safetensors + config) to the ``speech_tokenizer/`` subfolder and ``from_pretrained``
(and so ``AutoProcessor`` and ``pipeline("audio-to-uas", model=folder)``) restores it from there.

``conventions`` picks the defaults of the token names and the audio framing (``CONVENTIONS``): ``"uas"`` (ours, the
default) or ``"official"``, the conventions the paper's released inference code is described with in issue 18:
``<|audio_bos|>`` + ``<|AUDIO|>``×N + ``<|audio_eos|>`` per clip, N by AuT's frame rule (13 per 100 mel frames, no
stacking), and speech codes written ``<|audio_0|>``…; its ``decode_uas`` also reads prose around one fenced JSON block.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from transformers import BatchFeature
from transformers.processing_utils import MultiModalData, ProcessorMixin

from ..audio.frames import num_mel_frames
from ..modeling.audio_encoders import DEFAULT_WINDOW_FRAMES, FAMILIES, audio_tokens
from .chatml import AUDIO_BOS, AUDIO_EOS, AUDIO_TOKEN, CHAT_TEMPLATE, END_OF_TEXT, IM_END

if TYPE_CHECKING:
    from ..schema import UAS

logger = logging.getLogger(__name__)

#: Subfolder of a saved processor holding its speech tokenizer (discrete input mode).
SPEECH_TOKENIZER_DIR = "speech_tokenizer"
#: Spelling of the audio-code tokens added to the vocabulary by ``add_audio_codes(n)``.
CODE_TOKEN_FORMAT = "<|code_{}|>"
INPUT_MODES = ("continuous", "discrete")
#: Placeholder token of the official release (its ``<|audio_bos|>`` / ``<|audio_eos|>`` are spelled as ours).
OFFICIAL_AUDIO_TOKEN = "<|AUDIO|>"
#: Spelling of the official release's speech codes (8,192 codes at 25 Hz, per issue 18).
OFFICIAL_CODE_TOKEN_FORMAT = "<|audio_{}|>"
#: Defaults each ``conventions`` value gives the arguments left unset (``window_frames``: the family's own).
CONVENTIONS: dict[str, dict[str, Any]] = {
    "uas": {"audio_token": AUDIO_TOKEN, "audio_bos_token": AUDIO_BOS, "audio_eos_token": AUDIO_EOS,
            "code_token_format": CODE_TOKEN_FORMAT, "encoder_family": "whisper", "stack_factor": 4},
    # AuT's 12.5 Hz frames go one per placeholder: 13 per 100-frame chunk, the remainder through three stride-2 steps
    "official": {"audio_token": OFFICIAL_AUDIO_TOKEN, "audio_bos_token": AUDIO_BOS, "audio_eos_token": AUDIO_EOS,
                 "code_token_format": OFFICIAL_CODE_TOKEN_FORMAT, "encoder_family": "aut", "stack_factor": 1},
}


def audio_code_token(index: int) -> str:
    """The vocabulary entry of audio code ``index``."""
    return CODE_TOKEN_FORMAT.format(index)


@runtime_checkable
class SpeechEncoder(Protocol):
    """Turns a 16 kHz mono waveform into discrete speech codes (the discrete input mode's front end)."""

    def encode(self, wav: np.ndarray) -> list[int]: ...


class UASAudioProcessor(ProcessorMixin):
    """Feature extractor + tokenizer of UAS-Audio, with a ChatML chat template that accepts audio parts.

    Audio parts of a conversation: ``{"type": "audio", "path": FILE}``, ``{"type": "audio", "url": LOCAL_FILE}``,
    ``{"type": "audio", "audio": X}`` where X is a 16 kHz array (or an array with a ``"sampling_rate"`` key in
    the part), encoded bytes, an ``(array, rate)`` tuple, a ``{"array", "sampling_rate"}`` dict or a datasets
    ``{"bytes", "path"}`` dict. All decoding goes through ``uas_audio.audio.load_audio``.

    ``speech_encoder`` (discrete input mode): a ``UASSpeechTokenizer`` (its ``encode_for_processor`` is used, and
    it is saved with the processor), an object with ``encode(wav) -> list[int]`` or a callable ``wav -> codes``.

    ``encoder_family`` (``whisper``, ``qwen2_audio``, ``aut``) and ``window_frames`` (the family's released window
    when unset: 3000 mel frames, AuT's 100-frame chunk) must be the model's (``audio_encoders.family_of`` and
    ``window_frames_of`` of its ``audio_config``); ``from_components`` and ``convert_audio_llm`` set them.

    ``conventions`` (``"uas"`` or ``"official"``) gives the defaults of ``stack_factor``, the three audio token names,
    ``code_token_format`` (the spelling of discrete audio codes) and ``encoder_family`` when they are left unset;
    with ``"official"`` and no ``chat_template``, the ChatML template renders an audio part as ``<|AUDIO|>``.
    """

    text_kwargs = {"padding": True}

    def __init__(
        self,
        feature_extractor,
        tokenizer,
        chat_template: str | None = None,
        stack_factor: int | None = None,
        input_mode: str = "continuous",
        audio_token: str | None = None,
        audio_bos_token: str | None = None,
        audio_eos_token: str | None = None,
        speech_encoder: SpeechEncoder | Callable[[np.ndarray], Sequence[int]] | None = None,
        encoder_family: str | None = None,
        window_frames: int | None = None,
        code_token_format: str | None = None,
        conventions: str = "uas",
    ):
        if conventions not in CONVENTIONS:
            raise ValueError(f"UASAudioProcessor: conventions must be one of {tuple(CONVENTIONS)}, got {conventions!r}")
        defaults = CONVENTIONS[conventions]
        stack_factor = defaults["stack_factor"] if stack_factor is None else stack_factor
        audio_token = audio_token or defaults["audio_token"]
        audio_bos_token = audio_bos_token or defaults["audio_bos_token"]
        audio_eos_token = audio_eos_token or defaults["audio_eos_token"]
        encoder_family = encoder_family or defaults["encoder_family"]
        code_token_format = code_token_format or defaults["code_token_format"]
        if not isinstance(code_token_format, str) or code_token_format.count("{}") != 1:
            raise ValueError(
                f"UASAudioProcessor: code_token_format must hold one '{{}}' for the code index, got {code_token_format!r}"
            )
        self.conventions = conventions
        self.code_token_format = code_token_format
        if encoder_family not in FAMILIES:
            raise ValueError(f"UASAudioProcessor: encoder_family must be one of {FAMILIES}, got {encoder_family!r}")
        if window_frames is None:  # the family's released window
            window_frames = DEFAULT_WINDOW_FRAMES[encoder_family]
        if not isinstance(window_frames, int) or window_frames < 1:
            raise ValueError(f"UASAudioProcessor: window_frames must be a positive integer, got {window_frames!r}")
        self.encoder_family = encoder_family
        self.window_frames = window_frames
        if not isinstance(stack_factor, int) or stack_factor < 1:
            raise ValueError(f"UASAudioProcessor: stack_factor must be a positive integer, got {stack_factor!r}")
        if input_mode not in INPUT_MODES:
            raise ValueError(f"UASAudioProcessor: input_mode must be one of {INPUT_MODES}, got {input_mode!r}")
        self.stack_factor = stack_factor
        self.input_mode = input_mode
        self.audio_token = audio_token
        self.audio_bos_token = audio_bos_token
        self.audio_eos_token = audio_eos_token
        self.audio_token_id = self._required_token_id(tokenizer, audio_token)
        self.audio_bos_token_id = self._required_token_id(tokenizer, audio_bos_token)
        self.audio_eos_token_id = self._required_token_id(tokenizer, audio_eos_token)
        self.speech_encoder = speech_encoder
        if chat_template is None and conventions == "official":
            chat_template = CHAT_TEMPLATE.replace(AUDIO_TOKEN, audio_token)
        elif chat_template is None:
            chat_template = tokenizer.chat_template
        super().__init__(feature_extractor, tokenizer, chat_template=chat_template)

    @staticmethod
    def _required_token_id(tokenizer, token: str) -> int:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id or tokenizer.convert_ids_to_tokens(token_id) != token:
            raise ValueError(
                f"UASAudioProcessor: the tokenizer has no {token!r} token; add it as a special token "
                "(UASAudioForConditionalGeneration.from_components does) or use load_default_processor()"
            )
        return token_id

    # --- call ------------------------------------------------------------------------------------------

    def __call__(self, text=None, audio=None, **kwargs) -> BatchFeature:
        """Tokenise ``text`` (a string or a batch) with each ``<|audio|>`` expanded for the matching clip of
        ``audio`` (clips in order of appearance across the batch, 16 kHz mono arrays or file paths).

        Returns ``input_ids``, ``attention_mask`` and, in continuous mode with audio, ``input_features``
        (num_clips, 128, T) and ``input_features_mask`` (num_clips, T).
        """
        if text is None:
            raise ValueError("UASAudioProcessor: text is required (put one <|audio|> where each clip goes)")
        for modality in ("images", "videos"):
            if kwargs.get(modality) is not None:
                raise ValueError(f"UASAudioProcessor: takes text and audio; got {modality}, which it cannot process")
        return super().__call__(text=text, audio=audio, **kwargs)

    def num_audio_tokens(self, num_frames: int) -> int:
        """Placeholders between ``<|audio_bos|>`` and ``<|audio_eos|>`` for a clip of ``num_frames`` mel frames."""
        return int(audio_tokens(self.encoder_family, num_frames, self.window_frames, self.stack_factor))

    def _get_num_multimodal_tokens(self, audio_lengths: Sequence[int] | None = None, **kwargs) -> MultiModalData:
        """Audio placeholder tokens the processor writes for clips of ``audio_lengths`` samples at the feature
        extractor's rate (the count vLLM and transformers' processor tests ask for)."""
        data = {}
        if audio_lengths is not None:
            data["num_audio_tokens"] = [self.num_audio_tokens(num_mel_frames(int(n))) for n in audio_lengths]
        return MultiModalData(**data)

    def _process_audio(self, audio, **kwargs):
        sampling_rate = kwargs.get("sampling_rate") or self.feature_extractor.sampling_rate
        if self.input_mode == "discrete":
            if sampling_rate != self.feature_extractor.sampling_rate:
                raise ValueError(
                    f"UASAudioProcessor: audio sampled at {sampling_rate} Hz, but the speech encoder needs "
                    f"{self.feature_extractor.sampling_rate} Hz; resample first"
                )
            return {}, [self._code_replacement(np.asarray(clip, dtype=np.float32), i) for i, clip in enumerate(audio)]
        features = self.feature_extractor(
            audio,
            sampling_rate=sampling_rate,
            pad_to_multiple_of=kwargs.get("pad_to_multiple_of"),
            device=kwargs.get("device") or "cpu",
        )
        frames = np.asarray(features["input_features_mask"]).sum(-1)
        for index, n in enumerate(frames):
            if self.num_audio_tokens(int(n)) < 1:
                raise ValueError(
                    f"UASAudioProcessor: audio clip {index} ({int(n)} mel frames) is too short to give the "
                    f"{self.encoder_family} encoder a single frame; pad it or drop it"
                )
        replacements = [
            self.audio_bos_token + self.audio_token * self.num_audio_tokens(int(n)) + self.audio_eos_token
            for n in frames
        ]
        return dict(features), replacements

    def _code_replacement(self, wav: np.ndarray, index: int) -> str:
        encoder = self.speech_encoder
        if encoder is None:
            raise ValueError(
                "UASAudioProcessor: input_mode='discrete' needs a speech encoder; set processor.speech_encoder to an "
                "object with encode(wav) -> list[int] (or a callable)"
            )
        if hasattr(encoder, "encode_for_processor"):  # UASSpeechTokenizer: its encode() is the batched API
            codes = encoder.encode_for_processor(wav)
        elif hasattr(encoder, "encode"):
            codes = encoder.encode(wav)
        else:
            codes = encoder(wav)
        codes = [int(c) for c in codes]
        if not codes:
            raise ValueError(f"UASAudioProcessor: the speech encoder returned no codes for audio clip {index}")
        self._check_code_tokens(max(codes), min(codes))
        return self.audio_bos_token + "".join(self.code_token(c) for c in codes) + self.audio_eos_token

    def code_token(self, index: int) -> str:
        """This processor's spelling of discrete audio code ``index`` (``code_token_format``)."""
        return self.code_token_format.format(index)

    def _check_code_tokens(self, largest: int, smallest: int) -> None:
        if smallest < 0:
            raise ValueError(f"UASAudioProcessor: speech encoder returned a negative code ({smallest})")
        token = self.code_token(largest)
        token_id = self.tokenizer.convert_tokens_to_ids(token)
        if token_id is None or self.tokenizer.convert_ids_to_tokens(token_id) != token:
            how = ("extend the vocabulary with the model's add_audio_codes(n) (it adds the code tokens to the "
                   "processor's tokenizer too)" if self.code_token_format == CODE_TOKEN_FORMAT else
                   f"add the {self.code_token_format!r} code tokens to the tokenizer (and the model's embeddings)")
            raise ValueError(f"UASAudioProcessor: the tokenizer has no {token!r}; {how}")

    # --- chat template: audio loaded through uas_audio.audio.load_audio ---------------------------------

    def _multimodal_inputs_from_conversations(self, conversations, audio_loading_params, load_audio_from_video=False):
        sampling_rate = audio_loading_params.get("sampling_rate") or self.feature_extractor.sampling_rate
        batch_audios = []
        for conversation in conversations:
            for message in conversation:
                content = message.get("content")
                if not isinstance(content, list):
                    continue
                for part in content:
                    kind = part.get("type")
                    if kind == "audio":
                        batch_audios.append(load_audio_part(part, sampling_rate))
                    elif kind != "text":
                        raise ValueError(f"UASAudioProcessor: unsupported content part type {kind!r} (text, audio)")
        return [[] for _ in conversations], [[] for _ in conversations], batch_audios, {}

    # --- serialisation ---------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        # The speech encoder is a live object (often a model): never serialised with the processor config.
        encoder = self.__dict__.pop("speech_encoder", None)
        try:
            output = super().to_dict()
        finally:
            self.speech_encoder = encoder
        output.pop("speech_encoder", None)
        return output

    def save_pretrained(self, save_directory, push_to_hub: bool = False, **kwargs):
        """Save as ``ProcessorMixin`` does, plus the speech tokenizer (a ``UASSpeechTokenizer`` encoder, or the
        tokenizer behind a bound ``encode_for_processor``) in ``speech_tokenizer/`` so a discrete folder is
        self-contained. Other encoders (plain callables) cannot be saved: a discrete processor says so."""
        push = {}
        if push_to_hub:  # pushed once at the end, so the speech tokenizer subfolder is uploaded too
            from transformers.utils.hub import hf_api

            commit_message = kwargs.pop("commit_message", None)
            repo_id = kwargs.pop("repo_id", str(save_directory).split(os.path.sep)[-1])
            os.makedirs(save_directory, exist_ok=True)
            push = {
                "repo_id": hf_api().create_repo(repo_id, exist_ok=True, **kwargs).repo_id,
                "files_timestamps": self._get_files_timestamps(save_directory),
                "commit_message": commit_message,
                "token": kwargs.get("token"),
            }
        files = super().save_pretrained(save_directory, **kwargs)
        speech_tokenizer = self.speech_tokenizer
        if speech_tokenizer is not None:
            speech_tokenizer.save_pretrained(os.path.join(save_directory, SPEECH_TOKENIZER_DIR))
        elif self.input_mode == "discrete" and self.speech_encoder is not None:
            logger.warning(
                "UASAudioProcessor.save_pretrained: the speech encoder %r is not a UASSpeechTokenizer and is not "
                "saved; set processor.speech_encoder again after loading", self.speech_encoder,
            )
        if push:
            self._upload_modified_files(save_directory, push["repo_id"], push["files_timestamps"],
                                        commit_message=push["commit_message"], token=push["token"])
        return files

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, cache_dir=None, force_download: bool = False,
                        local_files_only: bool = False, token=None, revision: str = "main", **kwargs):
        """Load as ``ProcessorMixin`` does; a folder with a ``speech_tokenizer/`` subfolder also gets its
        ``UASSpeechTokenizer`` back as ``speech_encoder`` (unless ``speech_encoder=`` is passed)."""
        hub = {"cache_dir": cache_dir, "force_download": force_download, "local_files_only": local_files_only,
               "token": token, "revision": revision}
        processor = super().from_pretrained(pretrained_model_name_or_path, **hub, **kwargs)
        if processor.speech_encoder is None:
            processor.speech_encoder = _load_speech_tokenizer(pretrained_model_name_or_path, hub)
        return processor

    @property
    def speech_tokenizer(self):
        """The ``UASSpeechTokenizer`` behind ``speech_encoder`` (the model itself or the owner of its bound
        ``encode_for_processor``), or ``None`` when the encoder is something else."""
        from ..modeling.speech.modeling_speech_tokenizer import UASSpeechTokenizer

        encoder = self.speech_encoder
        owner = getattr(encoder, "__self__", None)
        if isinstance(encoder, UASSpeechTokenizer):
            return encoder
        if isinstance(owner, UASSpeechTokenizer) and getattr(encoder, "__name__", "") == "encode_for_processor":
            return owner
        return None

    # --- decoding --------------------------------------------------------------------------------------

    def decode_uas(self, text_or_ids: str | Sequence[int] | Any) -> UAS:
        """Parse a generated UAS JSON (text up to any ``<|im_end|>``, or token ids decoded without special tokens)
        into a ``UAS``; raises ``uas_audio.schema.UASParseError`` when it is not valid UAS. With the official
        conventions the reply may also put prose around one fenced JSON block (``schema.parse_uas_reply``)."""
        from ..schema import parse_uas, parse_uas_reply

        if isinstance(text_or_ids, str):
            # generated text may still carry the turn's end marker
            text = text_or_ids.split(IM_END, 1)[0].split(END_OF_TEXT, 1)[0]
        else:
            ids = text_or_ids.tolist() if hasattr(text_or_ids, "tolist") else list(text_or_ids)
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return parse_uas_reply(text) if self.conventions == "official" else parse_uas(text)


def _load_speech_tokenizer(pretrained_model_name_or_path, hub: dict):
    """The ``UASSpeechTokenizer`` saved in the ``speech_tokenizer/`` subfolder of a processor, or ``None``."""
    from transformers.utils import cached_file

    config = cached_file(pretrained_model_name_or_path, "config.json", subfolder=SPEECH_TOKENIZER_DIR,
                         _raise_exceptions_for_missing_entries=False, _raise_exceptions_for_connection_errors=False,
                         **hub)
    if config is None:
        return None
    from ..modeling.speech.modeling_speech_tokenizer import UASSpeechTokenizer

    return UASSpeechTokenizer.from_pretrained(pretrained_model_name_or_path, subfolder=SPEECH_TOKENIZER_DIR,
                                              **hub).eval()


def load_audio_part(part: dict, sampling_rate: int) -> np.ndarray:
    """Decode one ``{"type": "audio", ...}`` content part into a float32 mono array at ``sampling_rate``."""
    from ..audio import load_audio

    # Keys holding None are ignored: datasets gives every content part of a column the union of all keys.
    keys = [key for key in ("audio", "path", "url") if part.get(key) is not None]
    if len(keys) != 1:
        given = sorted(k for k, v in part.items() if v is not None)
        raise ValueError(f"audio content part needs exactly one of 'audio', 'path', 'url'; got keys {given}")
    value = part[keys[0]]
    if keys[0] == "url" and isinstance(value, str) and value.split("://", 1)[0].lower() in ("http", "https", "ftp"):
        raise ValueError(f"{value}: remote audio URLs are not fetched; download the file and pass its local path")
    if keys[0] == "audio" and hasattr(value, "shape") and not isinstance(value, (bytes, str)):
        array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=np.float32)
        if part.get("sampling_rate") is None:
            if array.ndim != 1:
                raise ValueError(f"audio content part: expected a mono (samples,) array, got shape {array.shape}")
            return array  # an array without a rate is taken to be at the processor's rate already
        value = (array, part["sampling_rate"])
    return load_audio(value, sampling_rate=sampling_rate)


__all__ = ["UASAudioProcessor", "SpeechEncoder", "audio_code_token", "load_audio_part", "CODE_TOKEN_FORMAT",
           "CONVENTIONS", "OFFICIAL_AUDIO_TOKEN", "OFFICIAL_CODE_TOKEN_FORMAT", "SPEECH_TOKENIZER_DIR"]
