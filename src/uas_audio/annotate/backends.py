"""Chat-completion backends shared by the LLM synthesizer (stage 2) and the LLM-written UAS-QA.

- :class:`OpenAIChatBackend`: any OpenAI-compatible server (vLLM, TGI, llama.cpp, hosted APIs) through
  ``POST {base_url}/chat/completions`` with the standard library's HTTP client; the API key is read from
  the environment variable named in the config (never stored in the config, never logged); per-request
  timeout; retries with exponential backoff on timeouts, connection errors, 5xx and 429; at most
  ``max_concurrency`` requests in flight.
- :class:`TransformersChatBackend`: a local transformers causal LM, optionally with decoding constrained to
  a grammar (the UAS grammar of ``uas_audio.pipelines.grammar``) so the output is valid JSON by construction.

``complete(conversations)`` returns one entry per conversation: the assistant text, or a
:class:`BackendError` saying why none came (failures are per item and never raise for the batch).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

logger = logging.getLogger(__name__)

#: Caps on one LLM reply: the HTTP body read, and the message text handed to the parser (a UAS record is a few
#: hundred characters; anything near these sizes is a runaway or hostile reply).
MAX_RESPONSE_BYTES = 1 << 20
MAX_REPLY_CHARS = 64 * 1024

Message = dict[str, Any]


class BackendError(Exception):
    """A completion that failed for good (after retries); ``kind`` is "timeout", "http", "connection" or
    "response"."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class ChatBackend(Protocol):
    def complete(self, conversations: list[list[Message]]) -> list[str | BackendError]: ...


@dataclass
class OpenAIChatBackend:
    """An OpenAI-compatible chat-completions endpoint. ``base_url`` is the server root or its ``/v1``."""

    base_url: str
    model: str
    api_key_env: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 3
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    max_concurrency: int = 8
    temperature: float = 0.0
    max_tokens: int = 1024
    response_format: dict[str, Any] | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"endpoint URL must start with http:// or https://, got {self.base_url!r}")
        if self.api_key_env and not os.environ.get(self.api_key_env):
            raise ValueError(f"the API key environment variable {self.api_key_env!r} is not set")
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")

    @property
    def url(self) -> str:
        root = self.base_url.rstrip("/")
        if root.endswith("/chat/completions"):
            return root
        return root + ("/chat/completions" if root.endswith("/v1") else "/v1/chat/completions")

    def complete(self, conversations: list[list[Message]]) -> list[str | BackendError]:
        if not conversations:
            return []
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(conversations))) as pool:
            return list(pool.map(self._complete_one, conversations))

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key_env:
            headers["Authorization"] = "Bearer " + os.environ[self.api_key_env]
        return headers

    def _complete_one(self, messages: list[Message]) -> str | BackendError:
        body: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": self.temperature,
                                "max_tokens": self.max_tokens, **self.extra_body}
        if self.response_format is not None:
            body["response_format"] = self.response_format
        payload = json.dumps(body).encode()
        last: BackendError | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                time.sleep(max(delay, getattr(last, "retry_after", 0.0)))
            try:
                request = urllib.request.Request(self.url, data=payload, headers=self._headers(), method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    body = response.read(MAX_RESPONSE_BYTES + 1)
                if len(body) > MAX_RESPONSE_BYTES:
                    return BackendError("response", f"response from {self.url} is larger than "
                                                    f"{MAX_RESPONSE_BYTES} bytes (the cap on one reply)")
                return _content(json.loads(body.decode("utf-8")))
            except urllib.error.HTTPError as err:
                last = BackendError("http", f"HTTP {err.code} from {self.url}")
                if err.code != 429 and err.code < 500:
                    return last  # the request itself is wrong: retrying cannot help
                retry_after = err.headers.get("Retry-After") if err.headers else None
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    last.retry_after = min(float(retry_after), self.max_backoff_s)  # type: ignore[attr-defined]
            except (TimeoutError, socket.timeout):
                last = BackendError("timeout", f"no answer from {self.url} within {self.timeout_s:g} s")
            except urllib.error.URLError as err:
                if isinstance(err.reason, (TimeoutError, socket.timeout)):
                    last = BackendError("timeout", f"no answer from {self.url} within {self.timeout_s:g} s")
                else:
                    last = BackendError("connection", f"cannot reach {self.url}: {err.reason}")
            except (ValueError, KeyError, IndexError, TypeError, RecursionError) as err:
                # RecursionError: a body nested too deep for json; ValueError: also a number over the digit limit
                return BackendError("response", f"unexpected response from {self.url}: {type(err).__name__}: "
                                                f"{str(err)[:200]}")
            logger.warning("attempt %d/%d failed: %s", attempt + 1, self.max_retries + 1, last)
        assert last is not None
        last.args = (f"{last.args[0]} (after {self.max_retries + 1} attempts)",)
        return last


def _content(response: dict[str, Any]) -> str:
    content = response["choices"][0]["message"]["content"]
    if not isinstance(content, str):
        raise TypeError(f"message content is {type(content).__name__}, not text")
    if len(content) > MAX_REPLY_CHARS:
        raise ValueError(f"message content has {len(content)} characters, over the cap of {MAX_REPLY_CHARS}")
    return content


class TransformersChatBackend:
    """A local causal LM through its chat template; ``grammar`` (EBNF) constrains decoding when given."""

    def __init__(self, model: str, grammar: str | None = None, max_new_tokens: int = 1024,
                 device: str | None = None, dtype: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.model.to(self.device).eval()
        self.grammar, self.max_new_tokens = grammar, max_new_tokens

    def _prompt_ids(self, messages: list[Message]):
        if getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                      return_dict=True)
        text = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant: "
        return self.tokenizer(text, return_tensors="pt")

    def complete(self, conversations: list[list[Message]]) -> list[str | BackendError]:
        import torch

        out: list[str | BackendError] = []
        for messages in conversations:
            inputs = {k: v.to(self.device) for k, v in self._prompt_ids(messages).items()}
            kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": False}
            if self.grammar is not None:
                from ..pipelines.constrained import grammar_logits_processor

                kwargs["logits_processor"] = [grammar_logits_processor(self.model, self.tokenizer, self.grammar)]
            with torch.no_grad():
                generated = self.model.generate(**inputs, **kwargs)
            new = generated[0, inputs["input_ids"].shape[1]:]
            out.append(self.tokenizer.decode(new, skip_special_tokens=True))
        return out


def build_backend(spec: dict[str, Any], grammar: str | None = None) -> ChatBackend:
    """A backend from a config dict: ``{"endpoint": URL, "model": name, ...}`` for an HTTP server, or
    ``{"model": name_or_path, ...}`` for a local transformers model."""
    spec = dict(spec)
    if spec.get("endpoint"):
        base_url = spec.pop("endpoint")
        if "model" not in spec:
            raise ValueError("an endpoint backend needs 'model' (the served model name)")
        return OpenAIChatBackend(base_url=base_url, **spec)
    if "model" not in spec:
        raise ValueError(f"an LLM backend needs 'model' or 'endpoint'; got keys {sorted(spec)}")
    constrained = spec.pop("constrained", True)
    return TransformersChatBackend(grammar=grammar if constrained else None, **spec)
