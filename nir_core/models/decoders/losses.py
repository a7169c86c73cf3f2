"""Training losses of the decoders: clamped L1 for the UDF, learned uncertainty weighting for joint training."""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

import torch
from torch import Tensor, nn

REDUCTIONS = ("mean", "sum", "none")


def clamped_l1(pred: Tensor, target: Tensor, clamp: float = 0.1, reduction: str = "mean") -> Tensor:
    """L1 between distances clamped at ``clamp`` (NDF, Chibane et al. 2020): ``|min(pred, c) - min(target, c)|``.

    Far from the surface the exact distance does not matter for extraction, so clamping frees the network's
    capacity for the band around the surface; beyond ``clamp`` on both sides the loss and its gradient are 0.

    Parameters
    ----------
    pred: (...) predicted distances.
    target: (...) ground-truth distances, same shape.
    clamp: the clamping distance ``c`` (unit-cube units; NDF and RangeUDF use 0.1).
    reduction: ``"mean"`` over all elements, ``"sum"``, or ``"none"`` for the elementwise (...) losses.
        (NDF and RangeUDF sum over the queries of a scene and average over scenes: ``"none"``, then
        ``.sum(-1).mean()``.)

    Returns
    -------
    () the reduced loss, or (...) elementwise with ``reduction="none"``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    loss = (pred.clamp(max=clamp) - target.clamp(max=clamp)).abs()
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def task_log_vars(tasks: Iterable[str], init: float = 0.0) -> nn.ParameterDict:
    """One learnable log-variance ``s_i = log sigma_i^2`` per task for :func:`uncertainty_weighted_loss`.

    ``init = 0`` starts every task at weight ``exp(-s) = 1``. Register the dict on the model (or give it to the
    optimiser) so that it is trained and checkpointed with the rest.
    """
    return nn.ParameterDict({name: nn.Parameter(torch.tensor(float(init))) for name in tasks})


def uncertainty_weighted_loss(losses: Mapping[str, Tensor], log_vars: nn.ParameterDict, *,
                              half: Collection[str] = ()) -> Tensor:
    """Joint loss with learned homoscedastic-uncertainty weights (Kendall, Gal and Cipolla, CVPR 2018).

    The exact form, with ``s_i = log sigma_i^2`` the learned log-variance of task ``i``::

        L = sum_i  exp(-s_i) L_i + s_i

    the same for every task, with no 1/2 factor, also for the regression (UDF) task: this is the form of
    RangeUDF's released code, which the thesis follows for its joint-training baseline. Minimising over ``s_i``
    gives ``s_i = log L_i``: each task's weight settles at ``1 / L_i`` and the learned scale of each term is 1.

    Kendall et al.'s Gaussian likelihood for regression is ``L_i / (2 sigma_i^2) + log sigma_i``
    ``= (exp(-s_i) L_i + s_i) / 2``; naming a task in ``half`` uses that term instead. Its optimal ``s_i`` is the
    same, so the 1/2 only halves that task's weight relative to the others.

    Parameters
    ----------
    losses: task name -> () scalar loss ``L_i`` (e.g. ``{"udf": clamped_l1(...), "semantic": cross_entropy(...)}``).
    log_vars: task name -> () learnable ``s_i`` (from :func:`task_log_vars`); every task of ``losses`` needs one.
    half: tasks weighted with Kendall et al.'s Gaussian 1/2 factor.

    Returns
    -------
    () the total loss; gradients reach the losses and ``log_vars``.
    """
    if not losses:
        raise ValueError("losses is empty: nothing to weight")
    missing = [name for name in losses if name not in log_vars]
    if missing:
        raise KeyError(f"no log-variance for tasks {missing} (log_vars has {sorted(log_vars.keys())})")
    unknown = [name for name in half if name not in losses]
    if unknown:
        raise KeyError(f"half names tasks {unknown} that are not in losses ({sorted(losses)})")
    total = None
    for name, loss in losses.items():
        if loss.ndim != 0:
            raise ValueError(f"loss {name!r} must be a scalar, got shape {tuple(loss.shape)}")
        s = log_vars[name]
        term = torch.exp(-s) * loss + s
        if name in half:
            term = 0.5 * term
        total = term if total is None else total + term
    return total
