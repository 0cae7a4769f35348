"""The review web app (Gradio): the clip's audio player on top, then one row per UAS field with its value and
Correct / Incorrect / Unsure, previous / next, progress, keyboard shortcuts; every click is stored at once.

One server serves one annotator (``--annotator``); several annotators run several servers on one database.
The server binds 127.0.0.1 and then answers only requests whose ``Host`` is a loopback name (no DNS rebinding);
any other host, or a public share link, needs credentials from the environment
(``UAS_REVIEW_USER`` / ``UAS_REVIEW_PASSWORD``). The only audio it serves is the dataset's own, written to a
temporary folder the app creates and removes; no request names a file.

Keyboard: ``j`` / ``k`` next / previous item; ``↓`` / ``↑`` move the highlighted field (or click a row);
``1`` / ``2`` / ``3`` mark it Correct / Incorrect / Unsure and move down; ``space`` plays / pauses.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..schema import FIELD_PATHS, SOUND_EVENT_KEYS, get_field
from .dataset import ReviewDataset, load_review_dataset
from .sample import DEFAULT_SAMPLE_SIZE, DEFAULT_SEED, draw_sample
from .store import VERDICTS, ReviewStore

USER_ENV = "UAS_REVIEW_USER"
PASSWORD_ENV = "UAS_REVIEW_PASSWORD"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
#: Radio choices: (shown, stored).
CHOICES: tuple[tuple[str, str], ...] = tuple((v.capitalize(), v) for v in VERDICTS)


class ReviewSecurityError(RuntimeError):
    """The server would be reachable from other machines without authentication."""


def field_elem_id(path: str) -> str:
    """The HTML id of a field's row (``paralinguistics.age`` → ``field-paralinguistics-age``)."""
    return "field-" + path.replace(".", "-")


def format_value(path: str, value: Any) -> str:
    """A field value as the reviewer reads it: null spelled out, events one per line as label — characteristic."""
    if value is None:
        return "null"
    if isinstance(value, list):
        if not value:
            return "(none)"
        label, characteristic = SOUND_EVENT_KEYS
        return "\n".join(f"{e.get(label)} — {e.get(characteristic)}" for e in value)
    return str(value)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_header_is_loopback(value: str | None) -> bool:
    """Whether an HTTP ``Host`` header (``name``, ``name:port``, ``[v6]:port``) names this machine's loopback."""
    if not value:
        return False
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:7860
        name = value[1:value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:  # name:port
        name = value.split(":")[0]
    else:  # a bare name, or a bare IPv6 address
        name = value
    return name == "localhost" or name.endswith(".localhost") or _is_loopback(name)


class LoopbackHostOnly:
    """ASGI middleware of a server bound to loopback: refuse any request whose ``Host`` header names another
    machine. A page on evil.example.com whose DNS name is re-pointed at 127.0.0.1 (DNS rebinding) reaches a
    loopback server as same-origin, so CORS does not stop it; its Host header still says evil.example.com."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            host = dict(scope.get("headers") or ()).get(b"host", b"").decode("latin-1")
            if not host_header_is_loopback(host):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                body = b"refused: this review server answers only requests addressed to localhost\n"
                await send({"type": "http.response.start", "status": 403,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def resolve_auth(host: str, share: bool, environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """The (user, password) the server must ask for, or None on a loopback-only server without credentials.

    Raises ReviewSecurityError when the server would be exposed (non-loopback host or share link) and the
    credentials are not both set in the environment.
    """
    environ = os.environ if environ is None else environ
    user, password = environ.get(USER_ENV, ""), environ.get(PASSWORD_ENV, "")
    if user and password:
        return user, password
    exposed = []
    if share:
        exposed.append("--share")
    if not _is_loopback(host):
        exposed.append(f"--host {host}")
    if exposed:
        raise ReviewSecurityError(f"{' and '.join(exposed)} makes the review app reachable by others: set "
                                  f"{USER_ENV} and {PASSWORD_ENV} in the environment to require a login")
    return None


@dataclass
class ItemView:
    """What the page shows for one position of the sample."""

    index: int
    item_id: str
    audio_type: str
    audio_path: str
    values: dict[str, str]
    verdicts: dict[str, str | None]
    progress: str


class ReviewSession:
    """One annotator's walk through a sample: what to show at each position, and storing their verdicts."""

    def __init__(self, dataset: ReviewDataset, store: ReviewStore, annotator: str, item_ids: list[str]):
        if not annotator.strip():
            raise ValueError("an annotator name is required (--annotator)")
        unknown = [i for i in item_ids if i not in dataset]
        if unknown:
            raise ValueError(f"sample items not in {dataset.source}: {unknown[:5]}")
        self.dataset, self.store, self.annotator, self.item_ids = dataset, store, annotator.strip(), item_ids
        self.audio_dir = Path(tempfile.mkdtemp(prefix="uas-review-audio-"))

    def __len__(self) -> int:
        return len(self.item_ids)

    def start_index(self) -> int:
        """Where the annotator resumes: their first item with a field not judged yet (the last one when done)."""
        return min(self.store.first_unanswered(self.item_ids, self.annotator, FIELD_PATHS), len(self) - 1)

    def _audio_file(self, index: int) -> str:
        data, suffix = self.dataset.audio(self.item_ids[index])
        path = self.audio_dir / f"{index:06d}{suffix}"
        if not path.exists():
            path.write_bytes(data)
        return str(path)

    def progress(self, index: int) -> str:
        done = self.store.completed(self.item_ids, self.annotator, FIELD_PATHS)
        return f"{index + 1} / {len(self)} · {done} complete"

    def view(self, index: int) -> ItemView:
        index = max(0, min(int(index), len(self) - 1))
        item_id = self.item_ids[index]
        uas = self.dataset.uas(item_id)
        verdicts = self.store.verdicts_for(item_id, self.annotator)
        return ItemView(index, item_id, self.dataset.types.get(item_id, ""), self._audio_file(index),
                        {f: format_value(f, get_field(uas, f)) for f in FIELD_PATHS},
                        {f: verdicts.get(f) for f in FIELD_PATHS}, self.progress(index))

    def vote(self, index: int, field: str, verdict: str) -> None:
        if field not in FIELD_PATHS:
            raise ValueError(f"unknown field {field!r}")
        self.store.record_vote(self.item_ids[int(index)], field, self.annotator, verdict)

    def close(self) -> None:
        shutil.rmtree(self.audio_dir, ignore_errors=True)


_CSS = """
.uas-field-row { align-items: center; border-bottom: 1px solid var(--border-color-primary); padding: 2px 4px; }
.uas-field-row > .uas-field-name { flex: 0 0 330px !important; }
.uas-field-name code { white-space: normal; word-break: break-word; }
.uas-focus { outline: 2px solid #f97316; border-radius: 6px; }
#review-progress { text-align: right; }
"""


def _keyboard_js(field_ids: list[str]) -> str:
    script = """
(() => {
  const FIELDS = __FIELDS__;
  const VERDICTS = {"1": "correct", "2": "incorrect", "3": "unsure"};
  let focus = 0;
  const row = (i) => document.getElementById(FIELDS[i]);
  const paint = () => FIELDS.forEach((_, i) => { const r = row(i); if (r) r.classList.toggle("uas-focus", i === focus); });
  const press = (id) => { const b = document.getElementById(id); if (b) b.click(); };
  document.addEventListener("click", (e) => {
    const i = FIELDS.findIndex((id) => { const r = document.getElementById(id); return r && r.contains(e.target); });
    if (i >= 0) { focus = i; paint(); }
    if (e.target.closest && e.target.closest("#review-next, #review-prev")) { focus = 0; paint(); }
  }, true);
  document.addEventListener("keydown", (e) => {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t && (t.tagName === "TEXTAREA" || t.isContentEditable || (t.tagName === "INPUT" && t.type !== "radio"))) return;
    const radio = t && t.tagName === "INPUT" && t.type === "radio";
    if (e.key === "j") { press("review-next"); }
    else if (e.key === "k") { press("review-prev"); }
    else if (e.key in VERDICTS) {
      const input = row(focus) && row(focus).querySelector(`input[type=radio][value="${VERDICTS[e.key]}"]`);
      if (input) { input.click(); input.blur(); focus = Math.min(focus + 1, FIELDS.length - 1); }
    }
    else if (e.key === "ArrowDown" && !radio) { focus = Math.min(focus + 1, FIELDS.length - 1); }
    else if (e.key === "ArrowUp" && !radio) { focus = Math.max(focus - 1, 0); }
    else if (e.key === " " && !radio && !(t && t.tagName === "BUTTON")) {
      const b = document.querySelector("#review-audio .play-pause-button");
      if (b) { b.click(); }
    }
    else return;
    e.preventDefault();
    paint();
  });
  new MutationObserver(paint).observe(document.documentElement, {childList: true, subtree: true});
})();
"""
    return "<script>" + script.replace("__FIELDS__", json.dumps(field_ids)) + "</script>"


def build_app(session: ReviewSession):
    """The Gradio Blocks of the review page for ``session``."""
    import gradio as gr

    def show(index: int) -> list[Any]:
        v = session.view(index)
        header = f"`{v.item_id}` · {v.audio_type}" if v.audio_type else f"`{v.item_id}`"  # ids stay literal
        return [v.index, v.audio_path, header, v.progress,
                *(v.values[f] for f in FIELD_PATHS), *(v.verdicts[f] for f in FIELD_PATHS)]

    # delete_cache: Gradio's own copies of the served clips do not pile up in its cache folder
    with gr.Blocks(title="UAS review", analytics_enabled=False, fill_width=True,
                   delete_cache=(3600, 3600)) as demo:
        index = gr.State(0)
        with gr.Row():
            header = gr.Markdown(elem_id="review-item")
            progress = gr.Markdown(elem_id="review-progress")
        audio = gr.Audio(type="filepath", interactive=False, show_label=False, elem_id="review-audio",
                         buttons=[])
        values, radios = [], []
        for path in FIELD_PATHS:
            with gr.Row(elem_id=field_elem_id(path), elem_classes=["uas-field-row"], equal_height=True):
                gr.Markdown(f"`uas.{path}`", elem_classes=["uas-field-name"])
                values.append(gr.Textbox(show_label=False, container=False, interactive=False, lines=1,
                                         max_lines=8, scale=5, elem_classes=["uas-field-value"]))
                radios.append(gr.Radio(list(CHOICES), show_label=False, container=False, scale=3, min_width=330,
                                       elem_classes=["uas-field-vote"]))
        with gr.Row():
            prev_btn = gr.Button("◀ Previous (k)", elem_id="review-prev")
            next_btn = gr.Button("Next (j) ▶", elem_id="review-next", variant="primary")
        gr.Markdown("Keys: `j`/`k` next/previous · `↑`/`↓` choose field · `1` Correct · `2` Incorrect · "
                    "`3` Unsure · `space` play/pause", elem_id="review-help")

        outputs = [index, audio, header, progress, *values, *radios]
        demo.load(lambda: show(session.start_index()), outputs=outputs)
        next_btn.click(lambda i: show(i + 1), inputs=index, outputs=outputs)
        prev_btn.click(lambda i: show(i - 1), inputs=index, outputs=outputs)
        for path, radio in zip(FIELD_PATHS, radios):
            radio.input(_vote_handler(session, path), inputs=[index, radio], outputs=progress)
    return demo


def _vote_handler(session: ReviewSession, field: str):
    def on_vote(index: int, verdict: str | None) -> str:
        if verdict:
            session.vote(index, field, verdict)
        return session.progress(index)
    return on_vote


def open_session(dataset: str | Path, db: str | Path, annotator: str, sample: int = DEFAULT_SAMPLE_SIZE,
                 seed: int = DEFAULT_SEED) -> ReviewSession:
    """Load the dataset, bind the database to it, and fetch (or draw and store) the sample."""
    data = load_review_dataset(dataset)
    store = ReviewStore(db)
    store.bind_dataset(data.fingerprint)
    item_ids = store.sample(seed, sample) or store.save_sample(seed, sample, draw_sample(data.types, sample, seed))
    return ReviewSession(data, store, annotator, item_ids)


def run_review(dataset: str | Path, db: str | Path, annotator: str, sample: int = DEFAULT_SAMPLE_SIZE,
               seed: int = DEFAULT_SEED, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
               share: bool = False) -> None:
    """Serve the review app until interrupted (the ``uas-audio review`` command)."""
    auth = resolve_auth(host, share)  # refuse an exposed server before loading anything
    try:
        import gradio  # noqa: F401
    except ImportError as err:
        raise ImportError("the review app needs gradio: pip install 'uas-audio[review]'") from err
    session = open_session(dataset, db, annotator, sample, seed)
    print(f"reviewing {len(session)} items of {dataset} as {session.annotator!r}; votes in {db}", flush=True)
    if threading.current_thread() is threading.main_thread():
        # a terminated server stops like an interrupted one: the server closes and the audio folder goes
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        launch_app(session, host=host, port=port, share=share, auth=auth, block=True)
    finally:
        session.close()


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def launch_app(session: ReviewSession, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, share: bool = False,
               auth: tuple[str, str] | None = None, block: bool = True):
    """Build and start the server for ``session``; with ``block=False`` return the running Blocks at once
    (``.close()`` stops it). ``auth`` must come from :func:`resolve_auth`."""
    if auth is None:
        resolve_auth(host, share, environ={})
    demo = build_app(session)
    app_kwargs = None
    if _is_loopback(host) and not share:  # a share link arrives through a tunnel under its own name
        from starlette.middleware import Middleware

        app_kwargs = {"middleware": [Middleware(LoopbackHostOnly)]}
    demo.launch(server_name=host, server_port=port, share=share, auth=auth, inbrowser=False, app_kwargs=app_kwargs,
                prevent_thread_lock=not block, ssr_mode=False, css=_CSS,
                head=_keyboard_js([field_elem_id(f) for f in FIELD_PATHS]), show_error=True, footer_links=[])
    return demo
