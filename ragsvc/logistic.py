"""L2-regularised logistic regression fitted full-batch with L-BFGS (torch, already a dependency).

Two small models use it: the complexity head (``ragsvc/analysis/head.py``, class-balanced, since
its training mix is not the traffic's) and the FAQ-direct confidence
(``ragsvc/retrieval/faq_confidence.py``, not balanced, since its output must read as a probability).
A dozen lines of optimiser are cheaper than a scikit-learn dependency for two callers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Rows = npt.NDArray[np.float32]


def fit_logistic(
    rows: Sequence[Rows] | Rows,
    labels: Sequence[int],
    weights: Sequence[float] | None = None,
    *,
    balanced: bool = False,
    l2: float = 1e-3,
    iterations: int = 200,
) -> tuple[Rows, float]:
    """Coefficients and bias minimising the (weighted) log loss plus ``l2 * |coefficients|^2``.

    ``weights`` scale each row's share of the loss; ``balanced`` makes both classes weigh half.
    """
    import torch

    x = torch.tensor(np.asarray(rows, dtype=np.float32))
    y = torch.tensor(labels, dtype=torch.float32)
    w = torch.tensor(weights if weights is not None else [1.0] * len(y), dtype=torch.float32)
    positive = float((w * y).sum() / w.sum())
    if not 0 < positive < 1:
        raise ValueError("both classes are needed to fit a logistic model")
    if balanced:
        w = w * torch.where(y == 1, 0.5 / positive, 0.5 / (1 - positive))
    coefficients = torch.zeros(x.shape[1], requires_grad=True)
    bias = torch.zeros(1, requires_grad=True)
    optimiser = torch.optim.LBFGS(
        [coefficients, bias], max_iter=iterations, line_search_fn="strong_wolfe"
    )

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        logits = x @ coefficients + bias
        value = (
            torch.nn.functional.binary_cross_entropy_with_logits(logits, y, weight=w)
            + l2 * (coefficients * coefficients).sum()
        )
        value.backward()  # type: ignore[no-untyped-call]
        return value

    optimiser.step(loss)  # type: ignore[no-untyped-call]
    fitted: Rows = coefficients.detach().numpy().astype(np.float32)
    return fitted, float(bias.detach())


def sigmoid(logit: float) -> float:
    return float(1.0 / (1.0 + np.exp(-logit)))
