"""Thesis ch. 6 Fig. 2 analogue: how well the encodings separate classes, with and without context features.

For one held-out generated room, the encoder's per-point features E_g, the contextualiser's features E_c and
E_g ⊕ E_c are each projected to 2D by PCA and drawn coloured by the points' true class (docs/features_pca.png).
A number stands beside each picture: the accuracy of a 5-nearest-neighbour vote in the full feature space
(leave-one-out), i.e. how separable the classes are, which the 2D picture can only hint at.

Run: ``.venv/bin/python benchmarks/plot_features.py --model PATH/TO/context-bundle [--room-seed 100000]``
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image, ImageDraw
from results import REPO, Experiment, Table
from scipy.spatial import cKDTree

from nir_core.data.labels import SCANNET20
from nir_core.data.sampling import sample_surface
from nir_core.data.synthetic import generate_room
from nir_core.models.registry import from_bundle
from nir_core.protocol import HELD_OUT_SEED


def pca_2d(x: np.ndarray) -> np.ndarray:
    """(N, D) -> (N, 2) projections on the two leading principal axes."""
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T


def knn_accuracy(x: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """Leave-one-out accuracy of a k-nearest-neighbour majority vote (features standardised per channel)."""
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-8)
    _, idx = cKDTree(x).query(x, k=k + 1)
    votes = labels[idx[:, 1:]]
    pred = np.array([np.bincount(v, minlength=labels.max() + 1).argmax() for v in votes])
    return float((pred == labels).mean())


def panel(xy: np.ndarray, colors: np.ndarray, title: str, size: int = 420) -> Image.Image:
    img = Image.new("RGB", (size, size + 24), "white")
    draw = ImageDraw.Draw(img)
    lo, hi = np.percentile(xy, 1, axis=0), np.percentile(xy, 99, axis=0)
    uv = np.clip((xy - lo) / np.maximum(hi - lo, 1e-9), 0, 1) * (size - 20) + 10
    for (u, v), c in zip(uv, colors):
        draw.ellipse([u - 1.5, size - v - 1.5, u + 1.5, size - v + 1.5], fill=tuple(int(t) for t in c))
    draw.text((8, size + 4), title, fill="black")
    return img


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--room-seed", type=int, default=HELD_OUT_SEED)
    parser.add_argument("--points", type=int, default=10_240)
    args = parser.parse_args()
    exp = Experiment(name="features_pca", title="Class separability of the encodings (thesis ch. 6 Fig. 2)",
                     description=__doc__.split("\n\n")[1].replace("\n", " "))
    model = from_bundle(args.model).eval()
    room = generate_room(args.room_seed).to_scan().normalised()
    points, _, labels = sample_surface(room, args.points, 0)
    with torch.no_grad():
        enc = model.encode(torch.from_numpy(points)[None])
    e_g = enc.features[0].numpy()
    if enc.context is None:
        raise SystemExit(f"{args.model}: the model has no contextualiser")
    e_c = enc.context[0].numpy()
    keep = labels >= 0
    sets = {"E_g (geometry encoding)": e_g[keep], "E_c (context)": e_c[keep],
            "E_g ⊕ E_c": np.concatenate([e_g, e_c], axis=1)[keep]}
    y = labels[keep]
    colors = SCANNET20.colorize(y)
    table = Table(["features", "channels", "5-NN accuracy (leave-one-out)"])
    panels = []
    for name, x in sets.items():
        acc = knn_accuracy(x, y)
        table.rows.append([name, str(x.shape[1]), f"{acc:.3f}"])
        panels.append(panel(pca_2d(x), colors, f"{name.replace('⊕', '+')}: 5-NN acc {acc:.2f}"))  # the bitmap font has no ⊕
    figure = Image.new("RGB", (sum(p.width for p in panels), panels[0].height), "white")
    for i, p in enumerate(panels):
        figure.paste(p, (i * p.width, 0))
    out = REPO / "docs" / "features_pca.png"
    figure.save(out)
    exp.tables[f"Room {args.room_seed}, {int(keep.sum())} labelled encoder points"] = table
    exp.notes.append(f"Figure: docs/features_pca.png (PCA to 2D, coloured by class). Model: {args.model}.")
    exp.metrics = {"rows": table.rows, "model": args.model}
    exp.save()


if __name__ == "__main__":
    main()
