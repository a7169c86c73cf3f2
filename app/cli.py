"""The ``nir-studio`` command: one entry point, a subcommand per job."""
from __future__ import annotations

import importlib
import json
import sys
from contextlib import nullcontext
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from app.image_cli import image_app
from app.nerf_cli import nerf_app
from app.options import Rename, config_options
from app.search_cli import search_bits
from app.web import WebConfig
from compress.config import CompressConfig, FinetuneConfig
from nir_core import cpu
from nir_core.errors import NIRStudioError, ScanLoadError
from nir_core.pipeline import PipelineConfig
from nir_core.protocol import HELD_OUT_SEED, EvalConfig

app = typer.Typer(
    name="nir-studio",
    help="Turn 3D scans and meshes into compact, labelled neural implicit representations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
synth_app = typer.Typer(help="Generate labelled procedural rooms and objects.", no_args_is_help=True)
app.add_typer(synth_app, name="synth")
app.add_typer(nerf_app, name="nerf")
app.add_typer(image_app, name="image")
app.command("search-bits")(search_bits)

# Typer raises click's exceptions (from its own copy of click in recent releases): reached through one it exports.
_click_errors = importlib.import_module(typer.BadParameter.__module__)
_NO_ARGS_IS_HELP = getattr(_click_errors, "NoArgsIsHelpError", ())  # click >= 8.2; older ones print the help and exit

# soft_wrap: a path or an error stays on one line however narrow the terminal (scripts grep them).
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@app.command()
def info(
    paths: list[Path] = typer.Argument(..., help="Scan / mesh files, dataset files or folders."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per input instead of tables."),
):
    """Points, bounds, colour / normal / label presence and the label histogram of each input."""
    from nir_core.data.io import find_scans, load
    from nir_core.data.summary import camera_dataset_summary, scan_summary

    failures = 0
    for given in paths:
        try:
            targets = find_scans(given)
            if given.is_dir() and not targets:
                raise ScanLoadError(given, "folder holds no scan or mesh file of a supported format")
        except NIRStudioError as exc:
            err.print(f"[red]error:[/] {exc}", highlight=False)
            failures += 1
            continue
        for path in targets:
            try:
                try:
                    summary = scan_summary(load(path))
                except ScanLoadError as exc:
                    # Camera datasets (NeRF) sit beside the scans; describe them instead of failing.
                    try:
                        summary = camera_dataset_summary(path)
                    except NIRStudioError:
                        raise exc from None
                    summary["source"] = str(path)
            except NIRStudioError as exc:
                err.print(f"[red]error:[/] {exc}", highlight=False)
                failures += 1
                continue
            if as_json:
                out.print_json(json.dumps(summary))
            else:
                _print_summary(path, summary)
    if failures:
        raise typer.Exit(code=2)


def _print_summary(path: Path, s: dict) -> None:
    out.print(f"[bold]{path}[/]", highlight=False)
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold cyan")
    table.add_column()
    for key, value in s.items():
        if key in ("label_histogram", "source"):
            continue
        if isinstance(value, list):
            value = "[" + ", ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in value) + "]"
        table.add_row(key, str(value))
    out.print(table)
    hist = s.get("label_histogram")
    if hist:
        total = sum(hist.values())
        h = Table(show_header=True, box=None, pad_edge=False, header_style="bold")
        for col, justify in (("class", "left"), ("points", "right"), ("share", "right")):
            h.add_column(col, justify=justify)
        for name, count in sorted(hist.items(), key=lambda kv: -kv[1]):
            h.add_row(name, f"{count:,}", f"{100 * count / total:.1f}%")
        out.print(h)
    out.print()


@synth_app.command("rooms")
def synth_rooms(
    count: int = typer.Option(4, "--count", "-n", min=1, help="Number of rooms."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder."),
    seed: int = typer.Option(0, min=0, help="Seed of the first room; room i uses seed + i."),
    scan_points: int = typer.Option(10_000, min=4, help="Points kept in each simulated scan."),
):
    """Rooms with furniture, their simulated RGB-D scans and the labelled ground-truth meshes."""
    from tqdm import tqdm

    from nir_core.data.synthetic import ScannerConfig, generate_room, simulate_scan, write_room

    for i in tqdm(range(count), desc="rooms", unit="room"):
        room = generate_room(seed + i)
        scanner = ScannerConfig(n_points=scan_points)
        scan = simulate_scan(room, scanner, seed=seed + i)
        write_room(room, scan, out_dir, f"room_{seed + i:05d}", scanner_config=scanner)
    out.print(f"wrote {count} room(s) to {out_dir}")


@synth_app.command("objects")
def synth_objects(
    count: int = typer.Option(2, "--count", "-n", min=1, help="Objects per class."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder (one subfolder per class)."),
    seed: int = typer.Option(0, min=0, help="Seed of the first object of each class."),
):
    """Objects of every class as ModelNet-style meshes (``<class>/<class>_NNNN.off``)."""
    import numpy as np
    from tqdm import tqdm

    from nir_core.data.io import save_scan
    from nir_core.data.scan import Scan
    from nir_core.data.synthetic import OBJECT_CLASSES, generate_object

    jobs = [(name, seed + i) for name in OBJECT_CLASSES for i in range(count)]
    for name, s in tqdm(jobs, desc="objects", unit="object"):
        mesh, _ = generate_object(name, s)
        save_scan(Scan(points=np.asarray(mesh.vertices, np.float32), mesh=mesh), out_dir / name / f"{name}_{s:04d}.off")
    out.print(f"wrote {len(jobs)} object(s) of {len(OBJECT_CLASSES)} classes to {out_dir}")


@app.command()
@config_options(PipelineConfig, "resolution", "method", "min_component_area", param="pipeline")
def extract(
    input_path: Path = typer.Argument(..., help="Scan or mesh whose distance field is meshed."),
    output: Path = typer.Option(..., "--out", "-o", help="Mesh to write (.ply, .obj, .glb, .off, .stl)."),
    report: Path | None = typer.Option(None, help="Also write a JSON report (stats, timings) here."),
    model: Path | None = typer.Option(None, help="Mesh a trained model's UDF of the scan (bundle folder or .nirz) "
                                      "instead of the exact distance field (udf-mc only)."),
    *,
    pipeline,
):
    """Mesh the unsigned distance field of a scan or mesh ("mesh my scan's distance field"), or with --model the
    field a trained model predicts from it."""
    import numpy as np

    from nir_core.atomic import atomic_write_json
    from nir_core.data.io import load, save_scan
    from nir_core.data.scan import Scan
    from nir_core.pipeline import Pipeline, load_model

    cfg = PipelineConfig.from_json({**pipeline.to_json(), "labels": False, "score": False})
    if output.suffix.lower() not in (".ply", ".obj", ".glb", ".off", ".stl"):
        raise typer.BadParameter(f"{output}: write .ply, .obj, .glb, .off or .stl", param_hint="--out")
    scan = load(input_path)
    if model is not None and cfg.method != "udf-mc":
        raise typer.BadParameter("a trained model's field is meshed with udf-mc", param_hint="--method")
    with err.status(f"extracting {input_path.name} at {cfg.resolution}³ ({cfg.method})"):
        result = Pipeline(cfg, load_model(model) if model is not None else None).run(scan)
    mesh, rep = result.mesh, result.report
    save_scan(Scan(points=np.asarray(mesh.vertices, np.float32), mesh=mesh), output)
    rep["input"], rep["output"] = str(input_path), str(output)
    if report is not None:
        atomic_write_json(report, rep)
    for note in rep["notes"]:
        err.print(f"[yellow]note:[/] {note}", highlight=False)
    for warning in rep["warnings"]:
        err.print(f"[yellow]warning:[/] {input_path}: {warning}", highlight=False)
    stats = rep["mesh_unit_cube"]
    out.print(f"wrote {output}: {stats['faces']:,} faces, {stats['components']} piece(s), "
              f"{stats['boundary_loops']} boundary loop(s), {sum(rep['timings_s'].values()):.1f} s")


@app.command()
@config_options(PipelineConfig, "resolution", "labels", "draws", "refine_steps", "refine_seconds", "colour",
                param="pipeline",
                rename={"refine_steps": Rename("refine")})
def reconstruct(
    inputs: list[Path] = typer.Argument(..., help="Scans or meshes: files, folders, glob patterns."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Output folder (a mesh per format and a JSON report each)."),
    model: str = typer.Option("default", help="Trained bundle folder or compressed .nirz file, or 'default' for the "
                              "bundled model."),
    formats: str = typer.Option("glb,ply", "--format", help="Comma-separated: glb (vertex colours), ply (label "
                                "property), npz."),
    force: bool = typer.Option(False, help="Redo inputs that already have a report."),
    shard: str | None = typer.Option(None, help="i/n: handle every n-th input from the i-th (default: torchrun's "
                                     "RANK/WORLD_SIZE, else all)."),
    *,
    pipeline,
):
    """Reconstruct (and label) scans with a trained model: scan -> encoder -> UDF -> mesh in the input's frame.

    A bad file is reported and skipped, the others finish; the exit status is 1 when any input failed. Outputs are
    written atomically; a re-run skips inputs already done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.batch import BatchJob, default_model, parse_shard, run_batch

    try:
        job = BatchJob(inputs=list(inputs), out_dir=out_dir, model=default_model() if model == "default" else Path(model),
                       pipeline=pipeline, formats=tuple(f.strip().lower() for f in formats.split(",") if f.strip()),
                       force=force, shard=parse_shard(shard))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as bars:
        files = bars.add_task("files", total=None)
        stage = bars.add_task("stage", total=None)

        def on_stage(name: str, what: str) -> None:
            bars.update(stage, description=f"{name}: {what}", total=None, completed=0)

        def on_progress(what: str, done: int, total: int) -> None:
            bars.update(stage, total=total, completed=done)

        def on_file(result) -> None:
            bars.advance(files)
            if result.status == "failed":
                err.print(f"[red]failed:[/] {result.input}: {result.reason}", highlight=False)
            for warning in result.warnings:
                err.print(f"[yellow]warning:[/] {result.input}: {warning}", highlight=False)

        results = run_batch(job, on_file=on_file, on_stage=on_stage, on_progress=on_progress)
    summary = Table(title=f"{len(results)} input(s) -> {out_dir}")
    for column in ("input", "status", "seconds", "note"):
        summary.add_column(column)
    for r in results:
        colour = {"done": "green", "skipped": "yellow", "failed": "red"}[r.status]
        summary.add_row(str(r.input), f"[{colour}]{r.status}[/]", f"{r.seconds:.1f}", r.reason or "; ".join(r.warnings))
    out.print(summary)
    failed = sum(r.status == "failed" for r in results)
    if failed:
        err.print(f"[red]{failed} of {len(results)} input(s) failed[/]", highlight=False)
        raise typer.Exit(1)


@app.command()
@config_options(EvalConfig, "resolution", "num_input", param="protocol")
def evaluate(
    model: Path = typer.Argument(..., help="Trained bundle folder or compressed .nirz file."),
    data: list[Path] | None = typer.Argument(None, help="Scans, meshes or dataset folders with ground truth."),
    rooms: int = typer.Option(0, min=0, help="Also evaluate on this many generated held-out rooms."),
    room_seed: int = typer.Option(HELD_OUT_SEED, min=0, help="Seed of the first generated room (training uses 0..)."),
    output: Path | None = typer.Option(None, "--out", "-o", help="Metrics JSON to write (default: print it)."),
    *,
    protocol,
):
    """Score a bundle by the thesis's protocol: 10k points in, mesh at 256³, CD-L1/L2 and F1 against 100k ground-truth
    points; mIoU and mF1 when the model and the data are labelled."""
    import json

    from app.batch import expand_inputs
    from nir_core.atomic import atomic_write_json
    from nir_core.data.io import load
    from nir_core.data.labels import require_label_set
    from nir_core.data.synthetic import generate_room
    from nir_core.pipeline import load_model
    from nir_core.protocol import evaluate as run
    from nir_core.protocol import prepare

    if not data and rooms <= 0:
        raise typer.BadParameter("give scans to evaluate on, or --rooms N for generated rooms", param_hint="DATA")
    loaded = load_model(model)
    net, model_labels = loaded.model, loaded.label_set
    cfg = protocol
    scans = []
    for path in expand_inputs(list(data or [])):
        scan = load(path)
        require_label_set(model_labels, scan.label_set, path)
        scans.append((str(path), scan))
    scans += [(f"room_{room_seed + i:05d}", generate_room(room_seed + i).to_scan()) for i in range(rooms)]

    def show(name: str, row: dict) -> None:
        sem = f", mIoU {row['miou']:.3f}" if "miou" in row else ""
        err.print(f"{name}: F1-δ {row['f1_delta']:.3f}, CD-L1 {row['cd_l1'] * 100:.3f}e-2{sem} ({row['seconds']:.1f} s)")

    result = run(net, (prepare(scan, name, cfg) for name, scan in scans), cfg, semantic=model_labels is not None,
                 progress=show)
    result["model"] = str(model)
    if output is None:
        out.print_json(json.dumps(result))
    else:
        atomic_write_json(output, result)
        out.print(f"wrote {output}: mean " + ", ".join(f"{k} {v:.4f}" for k, v in result["mean"].items()))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    preset: str = typer.Option("pt-geometry", help="Named configuration (see --list)."),
    config: Path | None = typer.Option(None, help="A JSON config instead of a preset."),
    run_dir: Path | None = typer.Option(None, "--out", help="Run folder (checkpoint/, bundle/, log.jsonl)."),
    list_presets: bool = typer.Option(False, "--list", help="List the presets and exit."),
    print_config: bool = typer.Option(False, help="Print the resolved config as JSON and exit."),
):
    """Train or resume a model. Extra KEY=VALUE arguments override the config (e.g. steps=100 data.count=64).
    Runs unchanged under ``torchrun --nproc_per_node N`` (DistributedDataParallel)."""
    import json

    from nir_core.train import TrainConfig, apply_overrides
    from nir_core.train import train as run
    from nir_core.train.presets import PRESETS
    from nir_core.train.presets import preset as get_preset

    if list_presets:
        for name in sorted(PRESETS):
            cfg = PRESETS[name]()
            out.print(f"{name:20s} {cfg.architecture:10s} {cfg.task:9s} steps={cfg.steps} batch={cfg.batch_size}")
        return
    try:
        cfg = TrainConfig.from_json(json.loads(config.read_text())) if config else get_preset(preset)
        cfg = apply_overrides(cfg, list(ctx.args))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if run_dir is not None:
        cfg.out = str(run_dir)
    if print_config:
        out.print_json(json.dumps(cfg.to_json()))
        return
    bundle = run(cfg)
    out.print(f"bundle written to {bundle}")


@app.command("finetune-context", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def finetune_context(
    ctx: typer.Context,
    bundle: Path = typer.Argument(..., help="Geometry-only bundle whose encoder stays frozen."),
    data: list[Path] = typer.Argument(..., help="Labelled scans (files or folders) in the bundle's label set."),
    run_dir: Path = typer.Option(..., "--out", help="Run folder (checkpoint/, bundle/, log.jsonl); re-run to resume."),
    val: list[Path] | None = typer.Option(None, help="Labelled scans for validation (default: generated rooms)."),
    steps: int = typer.Option(1000, min=1, help="Optimiser steps."),
):
    """Train only a contextualiser and a semantic head on your own small labelled set, on top of a frozen geometry
    bundle (thesis ch. 6: the encoder and its training data stay untouched). Extra KEY=VALUE arguments override the
    pt-context preset (e.g. model.context.context_features=2)."""
    from nir_core.bundle import ModelBundle
    from nir_core.data.labels import SCANNET20
    from nir_core.train import FileSource, apply_overrides
    from nir_core.train import train as run
    from nir_core.train.presets import preset

    # Typer hands KEY=VALUE words after the variadic DATA to DATA: split them back out.
    is_override = ["=" in str(p) and not p.exists() for p in data]
    overrides = [str(p) for p, o in zip(data, is_override) if o] + list(ctx.args)
    data = [p for p, o in zip(data, is_override) if not o]
    ModelBundle.load(bundle)  # a missing bundle fails before the data is read (the engine checks its architecture)
    for paths in (data, val or []):
        if paths:
            FileSource(list(paths), label_set=SCANNET20).check_all()
    try:
        cfg = apply_overrides(preset("pt-context"), overrides)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    cfg.init_from, cfg.out, cfg.steps = str(bundle), str(run_dir), steps
    cfg.data.source, cfg.data.paths = "files", [str(p) for p in data]
    cfg.data.val_paths = [str(p) for p in val or []]
    out.print(f"bundle written to {run(cfg)}")


@app.command()
@config_options(FinetuneConfig, "steps", "task", "repartition_every", "out", param="finetune",
                rename={"steps": Rename("finetune_steps"), "task": Rename("finetune_task"), "out": Rename("work_dir")})
@config_options(CompressConfig, "quantiser", "bits", "layer_bits", "coder", "codebook_dtype", "raw_float",
                "activation_bits", "activation_format", param="quantisation",
                rename={"quantiser": Rename("quantiser", ("--quantizer",))})
def compress(
    bundle: Path = typer.Argument(..., help="Trained bundle folder to compress."),
    output: Path = typer.Option(..., "--out", "-o", help="Compressed model file to write (.nirz)."),
    *,
    quantisation,
    finetune,
):
    """Quantise a bundle's Linear / Conv weights (post-training, or with quantisation-aware fine-tuning) and write
    the compressed .nirz file."""
    from compress.workflow import compress_bundle

    if output.suffix.lower() != ".nirz":
        raise typer.BadParameter(f"{output}: write a .nirz file", param_hint="--out")
    try:
        # The fine-tuning run shows its own progress bar; a spinner beside it would garble both.
        spinner = (err.status(f"compressing {bundle} ({quantisation.quantiser}, {quantisation.bits} bits)")
                   if not finetune.steps else nullcontext())
        with spinner:
            report = compress_bundle(bundle, output, quantisation, finetune)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    ratio = report["float32_bytes"] / report["file_bytes"]
    out.print(f"wrote {output}: {report['file_bytes']:,} bytes on disk ({ratio:.1f}x smaller than float32 "
              f"{report['float32_bytes']:,}), coder {report['coder']}, {report['quantised_layers']} quantised layers, "
              f"TLQE {report['tlqe']:.4g}, {report['seconds']:.1f} s")
    if report["finetune"]:
        tuned = report["finetune"]
        out.print(f"fine-tuned {tuned['steps']} steps ({tuned['repartitions']} codebook fits): TLQE "
                  f"{tuned['tlqe_start']:.4g} -> {tuned['tlqe_end']:.4g}; run in {tuned['run']}")


@app.command()
def inspect(path: Path = typer.Argument(..., help="A .nirz file.")):
    """Per-layer table of a compressed model: parameters, bits, codebook, bytes; totals against float32."""
    from compress.report import layer_table

    rows, totals = layer_table(path)
    table = Table(title=f"{path} ({totals['architecture']}, coder {totals['coder']})")
    for column in ("tensor", "shape", "params", "stored as", "codebook", "packed bytes"):
        table.add_column(column, justify="left" if column in ("tensor", "stored as") else "right",
                         overflow="fold")
    for r in rows:
        table.add_row(r["name"], "x".join(map(str, r["shape"])), f"{r['params']:,}", r["stored"], r["codebook"],
                      f"{r['bytes']:,}")
    out.print(table)
    out.print(f"{totals['params']:,} parameters; float32 {totals['float32_bytes']:,} bytes; packed "
              f"{totals['packed_bytes']:,}; file on disk {totals['file_bytes']:,} bytes "
              f"({totals['ratio']:.1f}x smaller than float32)")


@app.command()
@config_options(WebConfig, "host", "port", "share", "max_upload_mb", "max_points", "torch_threads", param="settings")
def web(
    nerf: list[str] = typer.Option([], help="NAME=PATH: a radiance field (.nirz or run folder) offered in the "
                                   "Compare NeRFs tab; repeat for more."),
    *,
    settings,
):
    """Serve the web UI (Gradio): upload a scan, get its labelled reconstruction, download GLB / PLY / report;
    compare compressed encoders and compressed NeRFs."""
    from app.web import launch, server_tuning

    for item in nerf:
        name, _, path = item.partition("=")
        if not name or not path or not Path(path).exists():
            raise typer.BadParameter(f"--nerf {item}: write NAME=PATH with an existing .nirz or run folder")
        settings.nerfs[name] = Path(path)
    cpu.apply(server_tuning(settings))  # this command is the program: it owns torch's process-wide threads
    launch(settings)


@app.command()
@config_options(PipelineConfig, "resolution", param="pipeline")
def view(
    paths: list[Path] = typer.Argument(..., help="Meshes or point sets (e.g. reconstructions: NAME.ply)."),
    compare: Path | None = typer.Option(None, help="A second result shown beside the first; or a model (bundle "
                                        "folder or .nirz): the first path reconstructed with it."),
    model: Path | None = typer.Option(None, help="Reconstruct the paths with this model (bundle folder or .nirz) "
                                      "and show the results."),
    screenshot: Path | None = typer.Option(None, help="Render offscreen to this PNG instead of opening a window."),
    width: int = typer.Option(1280, min=16, max=16384, help="Screenshot width, pixels."),
    height: int = typer.Option(800, min=16, max=16384, help="Screenshot height, pixels."),
    close_after: float | None = typer.Option(None, hidden=True, help="Close the window after this many seconds."),
    grab: Path | None = typer.Option(None, hidden=True, help="Save a PNG of the whole display before closing."),
    *,
    pipeline,
):
    """Open results in the desktop viewer (Open3D): one geometry per class, each with its visibility checkbox.
    With models (--model, or a model as --compare) the scans are reconstructed first: a float bundle beside its
    compressed .nirz, for instance."""
    import shutil
    import tempfile

    from app.viewer import is_model, reconstructed, scene_items, show
    from app.viewer import screenshot as render

    if screenshot is not None and screenshot.suffix.lower() != ".png":
        raise typer.BadParameter(f"{screenshot}: write a .png", param_hint="--screenshot")
    scans = list(paths)
    work = Path(tempfile.mkdtemp(prefix="nir-studio-view-"))  # reconstructions live only as long as the view
    try:
        if model is not None:
            with err.status(f"reconstructing {len(scans)} scan(s) with {model}"):
                paths = reconstructed(scans, model, work, pipeline)
        if compare is not None and is_model(compare):
            with err.status(f"reconstructing {scans[0].name} with {compare}"):
                compare = reconstructed(scans[:1], compare, work, pipeline)[0]
        if screenshot is not None:
            items = scene_items(list(paths), compare)
            out.print(f"wrote {render(items, screenshot, width, height)} ({len(items)} geometries)")
            return
        show(list(paths), compare, close_after, grab)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@app.command()
def demo(
    out_dir: Path = typer.Option(Path("out/demo"), "--out", "-o", help="Output folder."),
    inputs: list[Path] | None = typer.Argument(None, help="Scans to process (default: the samples in assets/)."),
):
    """The main job on the bundled samples: load, normalise, sample ground truth, write report and previews."""
    from app.demo import run_demo

    run_demo(inputs or None, out_dir, console=out)


def main(argv: list[str] | None = None) -> None:
    """Console entry point. A usage error (unknown option, a value out of its range) and a user error raised by a
    job (bad file, bad value) print one line ``error: ...`` and exit 2, never a traceback; the exit status is the
    command's otherwise."""
    command = typer.main.get_command(app)
    try:
        cpu.apply(cpu.CpuTuning.from_env())  # torch's process-wide threads: set here, never by the library
        status = command.main(args=argv, prog_name="nir-studio", standalone_mode=False)
    except _NO_ARGS_IS_HELP:  # the help was printed: `nir-studio` or a group alone
        sys.exit(2)
    except _click_errors.ClickException as exc:
        ctx = getattr(exc, "ctx", None)
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        err.print(f"[red]error:[/] {escape(exc.format_message())}{escape(where)}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(1)
    except NIRStudioError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        sys.exit(2)
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()
