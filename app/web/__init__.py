"""``nir-studio web``: the Gradio web UI. One tab per view; later views (compression, NeRFs) append to :data:`VIEWS`.

Binds 127.0.0.1 unless told otherwise and makes no public link unless asked. Work runs through Gradio's queue one
job at a time (reconstruction holds a model and a 256³ band in memory), files live in a folder per browser session
that is deleted when the page closes, and every failure reaches the user as a message, never as a dead server.
(No ``from __future__ import annotations``: Gradio finds ``gr.Request`` parameters by their annotation object.)
"""
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from nir_core.config import bounded, check_ranges

MB = 1 << 20


@dataclass
class WebConfig:
    """Settings of the web UI."""

    host: str = "127.0.0.1"
    """Interface to bind; 127.0.0.1 keeps the UI on this machine."""
    port: int = bounded(7860, 1, 65535)
    """TCP port."""
    share: bool = False
    """Ask Gradio for a public share link (off unless asked)."""
    max_upload_mb: int = bounded(200, 0)
    """Largest upload accepted, in MiB."""
    max_points: int = bounded(5_000_000, 4)
    """Largest scan accepted, in points (the loaders' own limits are larger)."""
    default_resolution: int = bounded(256, 32, 512)
    """The resolution the Settings slider starts at."""
    display_faces: int = bounded(100_000, 1_000)
    """Faces of the mesh the browser shows (a decimated copy; the downloads keep every face): a browser without a
    GPU renders a few hundred thousand faces slowly."""
    preview_points: int = bounded(12_000, 100)
    """Input points the browser shows (each drawn as an 8-face octahedron)."""
    torch_threads: int = bounded(1, 0)
    """Torch threads of the server's jobs (0: torch's default, one per core). A browser without a GPU draws the page
    on the same cores while a job runs, and torch's threads wait for each other by spinning, so two threads on two
    shared cores run several times slower than one; ``NIR_STUDIO_THREADS``, when set, wins. Applied by the program
    that serves (:func:`server_tuning`), never by the UI code."""
    max_queue: int = bounded(16, 1)
    """Jobs waiting at most; more get a "busy" message instead of exhausting memory."""
    work_root: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "nir-studio-web")
    """Parent of the per-session folders."""
    models: dict[str, Path] = field(default_factory=dict)
    """Choosable bundles by display name (default: the bundled ones)."""
    variants: dict[str, Path] = field(default_factory=dict)
    """Compressed encoders (``.nirz``) the Compare encoders tab offers beside the one it makes on the spot, by
    display name (default: every ``.nirz`` in assets/models, :func:`bundled_variants`)."""
    nerfs: dict[str, Path] = field(default_factory=dict)
    """Radiance fields (``.nirz`` files or run folders) offered in the Compare NeRFs tab, by display name (default:
    the shipped variants of the toy scene, :func:`bundled_nerfs`); users can upload their own ``.nirz`` too."""

    def __post_init__(self):
        check_ranges(self)


@dataclass
class View:
    """A tab: its title and a function that builds its components inside the tab."""

    title: str
    build: Callable[[WebConfig], None]


def _views() -> list[View]:
    from .compare import build_compare
    from .nerf_compare import build_nerf_compare
    from .reconstruct import build_reconstruct

    return [View("Reconstruct", build_reconstruct), View("Compare encoders", build_compare),
            View("Compare NeRFs", build_nerf_compare)]


VIEWS: Callable[[], list[View]] = _views
"""The tabs, in order (a function so that building the list imports each view only when the UI is built)."""


_SERVER_PATH = re.compile(r"(?<![\w.~])/[^\s'\"`,;:()]+")
"""An absolute path in a message (not a fraction such as 3/4: the slash must not follow a letter or digit)."""


def user_message(exc: BaseException) -> str:
    """An error as the browser shows it: every server path cut to its last part, the name the user knows (an
    upload's own file name; Gradio keeps it as the last part of the path it stores the upload under)."""
    return _SERVER_PATH.sub(lambda m: Path(m.group(0)).name or m.group(0), str(exc))


def session_folder(cfg: WebConfig, session: str | None) -> Path:
    """A fresh folder for one job of one browser session, under that session's folder."""
    root = cfg.work_root / (session or "anonymous")
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=time.strftime("%H%M%S-"), dir=root))


def drop_session(cfg: WebConfig, session: str | None) -> None:
    if session:
        shutil.rmtree(cfg.work_root / session, ignore_errors=True)


def build_ui(cfg: WebConfig | None = None):
    """The Gradio app (not launched)."""
    import gradio as gr

    cfg = cfg or WebConfig()
    if not cfg.models:
        cfg.models = bundled_models()
    if not cfg.variants:
        cfg.variants = bundled_variants()
    if not cfg.nerfs:
        cfg.nerfs = bundled_nerfs()
    with gr.Blocks(title="NIR Studio", delete_cache=(3600, 3600)) as ui:
        gr.Markdown("# NIR Studio\nScans and meshes to compact neural implicit representations, meshed and labelled.")
        with gr.Tabs():
            for view in VIEWS():
                with gr.Tab(view.title):
                    view.build(cfg)

        def cleanup(request: gr.Request):
            drop_session(cfg, getattr(request, "session_hash", None))

        ui.unload(cleanup)
    ui.queue(default_concurrency_limit=1, max_size=cfg.max_queue)
    return ui


def bundled_models() -> dict[str, Path]:
    """Display name -> bundle folder for every bundle in assets/models (the default first)."""
    from app.batch import MODELS_DIR, default_model

    found = {"default (" + default_model().name + ")": default_model()}
    for folder in sorted(MODELS_DIR.iterdir()) if MODELS_DIR.exists() else []:
        if (folder / "config.json").exists() and folder != default_model():
            found[folder.name] = folder
    return found


def bundled_variants() -> dict[str, Path]:
    """File name -> path of every compressed model (``.nirz``) in assets/models."""
    from app.batch import MODELS_DIR

    return {path.name: path for path in sorted(MODELS_DIR.glob("*.nirz"))} if MODELS_DIR.exists() else {}


NERFS_DIR = Path(__file__).resolve().parents[2] / "assets" / "nerfs"
"""The shipped radiance fields: a folder per scene with its float bundle (``float32/``) and quantised ``*.nirz``."""


def bundled_nerfs() -> dict[str, Path]:
    """Display name ("SCENE: VARIANT") -> model for every shipped radiance field, float first."""
    found = {}
    for scene in sorted(NERFS_DIR.iterdir()) if NERFS_DIR.exists() else []:
        variants = [scene / "float32"] if (scene / "float32").is_dir() else []
        for path in variants + sorted(scene.glob("*.nirz")):
            found[f"{scene.name}: {path.stem.replace('-', ' ')}"] = path
    return found


def server_tuning(cfg: WebConfig, environ=None):
    """The :class:`~nir_core.cpu.CpuTuning` a program serving the UI applies: ``NIR_STUDIO_THREADS`` when set, else
    ``cfg.torch_threads``."""
    import os

    from nir_core import cpu

    env = os.environ if environ is None else environ
    if env.get(cpu.ENV_THREADS, "").strip():
        return cpu.CpuTuning.from_env(env)
    return cpu.CpuTuning(intra_op_threads=cfg.torch_threads)


def launch(cfg: WebConfig) -> None:
    """Builds and serves the UI until interrupted."""
    cfg.work_root.mkdir(parents=True, exist_ok=True)
    ui = build_ui(cfg)
    ui.launch(server_name=cfg.host, server_port=cfg.port, share=cfg.share,
              max_file_size=f"{cfg.max_upload_mb}mb", show_error=True)
