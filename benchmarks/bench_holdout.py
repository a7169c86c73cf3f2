"""Thesis ch. 5 hold-out experiments (Table 8 analogue) on generated objects: does semantic supervision of the
encoder help tasks it never saw?

Three Point Transformer encoders are trained from scratch on generated objects (15 classes; per-point labels: the
material group of each part, 8 classes): for reconstruction alone (``geometry``), for reconstruction + part
segmentation (``joint``) and for reconstruction + classification (``joint-classify``). Each encoder is then
frozen and the head of the task it was not trained for is trained on its encodings: classification and
segmentation on the reconstruction-only encoder, classification on the segmentation encoder, segmentation on the
classification encoder. Rows report, on held-out objects (seeds from 100000, every class equally), the
reconstruction (CD-L1 x1e2 and F1-δ of the mesh at the protocol's resolution against 100k surface points), the
segmentation mIoU of the queries near the surface and the classification accuracy; each number is marked with the
encoder it comes from. The thesis's finding to test: the jointly trained encoders reconstruct as well as the
reconstruction-only one, and either kind of semantic supervision lifts the held-out task.

Run: ``.venv/bin/python benchmarks/bench_holdout.py [--steps 3000] [--head-steps 1000] [--objects 60] [--carry]``
(``--carry`` keeps the encoders the last run measured and trains only the rest: one encoder and its heads fit a
sitting on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from results import REPO, Experiment, Table, carried_rows, carry_note, training_time

from nir_core.bundle import ModelBundle
from nir_core.data.scan import Scan
from nir_core.data.synthetic.objects import OBJECT_CLASSES, generate_object
from nir_core.models.registry import from_bundle
from nir_core.protocol import HELD_OUT_SEED, EvalConfig, evaluate, prepare
from nir_core.train import train
from nir_core.train.data import SyntheticObjectSource, UDFSceneDataset
from nir_core.train.engine import validate
from nir_core.train.presets import preset
from nir_core.train.tasks import TASKS

ENCODERS = [("Reconstruction only", "geometry", "objects-geometry"),
            ("Reconstruction + segmentation", "joint", "objects-joint"),
            ("Reconstruction + classification", "joint-classify", "objects-joint-classify")]
HELD_OUT = {"geometry": ("classify", "frozen"), "joint": ("classify",), "joint-classify": ("frozen",)}
"""Heads trained on each frozen encoder: the tasks it was not trained for."""


def run(name: str, out: Path, steps: int, init: Path | None = None) -> Path:
    cfg = preset(name)
    cfg.out, cfg.steps, cfg.lr_decay_start = str(out), steps, steps * 3 // 4
    if init is not None:
        cfg.init_from = str(init)
    bundle = out / "bundle"
    if bundle.exists() and ModelBundle.load(bundle).training.get("steps") == steps:
        return bundle
    print(f"training {name} for {steps} steps in {out}", flush=True)
    return train(cfg)


def scores(bundle: Path, task: str, test: UDFSceneDataset) -> dict:
    """Segmentation mIoU near the surface / accuracy on the held-out objects, for the heads ``task`` trains."""
    model = from_bundle(bundle)
    return validate(TASKS[task](model), test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="steps of each encoder (from scratch)")
    parser.add_argument("--head-steps", type=int, default=1000, help="steps of each head on a frozen encoder")
    parser.add_argument("--objects", type=int, default=60, help="held-out objects (a multiple of 15: every class)")
    parser.add_argument("--recon-objects", type=int, default=15, help="held-out objects meshed for reconstruction")
    parser.add_argument("--resolution", type=int, default=128)
    parser.add_argument("--runs", type=Path, default=REPO / "out" / "bench_holdout")
    parser.add_argument("--carry", action="store_true",
                        help="keep the encoders' rows the last run measured (benchmarks/results) and train the rest")
    args = parser.parse_args()
    carried = carried_rows("holdout", args, ("steps", "head_steps", "objects", "recon_objects", "resolution")) \
        if args.carry else {}
    exp = Experiment(name="holdout", title="Hold-out tasks on generated objects (thesis ch. 5 Table 8)",
                     description=__doc__.split("\n\n")[1].replace("\n", " "))
    sampling = preset("objects-geometry").data.sampling
    test = UDFSceneDataset(SyntheticObjectSource(args.objects, seed=HELD_OUT_SEED), sampling, seed=7)
    cfg = EvalConfig(num_input=sampling.num_input, resolution=args.resolution)  # as many points as in training
    meshes = []
    for i in range(args.recon_objects):
        name = OBJECT_CLASSES[i % len(OBJECT_CLASSES)]
        mesh, _ = generate_object(name, HELD_OUT_SEED + i // len(OBJECT_CLASSES))
        meshes.append(prepare(Scan(points=mesh.vertices.astype("float32"), mesh=mesh), f"{name}_{i}", cfg))
    table = Table(["encoder trained for", "CD-L1", "F1-δ", "segmentation mIoU", "classification accuracy",
                   "training time (s)"])
    exp.tables[f"Held-out objects: {args.objects} for the tasks, {args.recon_objects} meshed at {args.resolution}³"] = \
        table
    rows = []
    exp.metrics = {"rows": rows, "args": {k: str(v) for k, v in vars(args).items()}}
    for label, task, name in ENCODERS:
        if label in carried:
            row = carried[label]
        else:
            encoder = run(name, args.runs / task, args.steps)
            start = time.perf_counter()
            recon = evaluate(from_bundle(encoder), meshes, cfg, semantic=False)["mean"]
            row = {"row": label, "task": task, "recon": recon, "own": scores(encoder, task, test),
                   "eval_s": time.perf_counter() - start,
                   "training": ModelBundle.load(encoder).training, "held_out": {}}
            for head in HELD_OUT[task]:
                head_name = "objects-classify" if head == "classify" else "objects-frozen"
                bundle = run(head_name, args.runs / f"{task}+{head}", args.head_steps, init=encoder)
                row["held_out"][head] = scores(bundle, head, test)
        rows.append(row)
        own, recon = row["own"], row["recon"]
        seg = own.get("val_miou_near", row["held_out"].get("frozen", {}).get("val_miou_near"))
        acc = own.get("val_accuracy", row["held_out"].get("classify", {}).get("val_accuracy"))
        seg_mark = "" if "val_miou_near" in own else " (held out)"
        acc_mark = "" if "val_accuracy" in own else " (held out)"
        nan = float("nan")  # an encoder whose meshes came out empty has no distances
        table.rows.append([label, f"{recon.get('cd_l1', nan) * 100:.4f}", f"{recon.get('f1_delta', nan):.4f}",
                           f"{seg:.4f}{seg_mark}",
                           f"{acc:.4f}{acc_mark}", training_time(row["training"])])
        print(label, table.rows[-1], flush=True)
        exp.notes = carry_note(rows)
        exp.save()  # after every encoder: a run cut short keeps what it measured
    exp.notes.append("'(held out)': the head was trained afterwards on the frozen encoder; otherwise the encoder was "
                     "trained with that task. Segmentation mIoU is over the queries within 0.02 of the surface.")
    exp.save()


if __name__ == "__main__":
    main()
