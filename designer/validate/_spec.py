"""The validation request: which task to train the design on, how long, with which noise."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..simulate import NoiseSpec, TaskSpec


class ValidationSpec(BaseModel):
    """A validation run of a design (``designer validate``, and the ``validate`` part of a design job).

    Only ``task`` is required: every other choice is made by a stated rule and written into the
    result (``defaults``). The mechanism of the design picks the noise unless ``noise`` is given:
    weight decay trains full-batch GD with coupled weight decay (then polishes with L-BFGS on the
    same parameterization), label noise trains single-example SGD with Gaussian label noise
    (learning rate divided by 10 when the distance to the predicted limit stops improving, at
    most twice), gauge trains minibatch SGD at ``eta / B = 2 T / s^2``. The result's ``verdict``
    says whether the trained objective is within ``tolerance`` of the trusted solver's.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    task: TaskSpec = Field(..., description="simulator task the design is trained on (its predictor shape must match the design's)")
    data_seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the task's data (shared by all runs)")
    steps: int | None = Field(None, ge=1, le=10_000_000, description="step cap (default: 20,000 for weight decay, 400,000 for label noise, 200,000 for the gauge); training stops earlier by its stopping rule (relative objective change, or for label noise the distance to the predicted limit)")
    seeds: int | None = Field(None, ge=1, le=256, description="independent runs (initialization and noise), batched (default 1 for weight decay, 4 otherwise)")
    noise: list[NoiseSpec] | None = Field(None, max_length=8, description="simulator noise pieces replacing the ones the mechanism implies")
    learning_rate: float | None = Field(None, gt=0.0, le=10.0, description="step size (default: half the edge of stability 2 / lambda_max of the loss at the initialization, by power iteration on Hessian-vector products; halved and retried on divergence)")
    batch_size: int | None = Field(None, ge=1, le=100_000, description="minibatch size for label noise and gauge (default 1)")
    strength: float | None = Field(None, gt=0.0, le=1e6, description="strength lambda of the regularizer lambda R* (default: from the task's noise level, 2 sigma sqrt(2 log d) max_j |X_j| / n for regression, 1e-3 lambda_max for noiseless data; label noise: std twice the targets' rms)")
    schedule: Literal["constant", "step_decay", "anneal_on_plateau", "anneal_noise_on_plateau"] | None = Field(None, description="schedule: constant; step_decay (learning rate divided by 10 after each third of the steps); anneal_on_plateau (learning rate divided by 10 when the distance to the predicted limit stops improving, at most twice); anneal_noise_on_plateau (label-noise variance divided by 10 when that distance stops improving, at most 4 times; needs label noise; the default for label noise, else constant)")
    init: Literal["zero_product", "constant", "normal"] = Field("zero_product", description="Hadamard initialization: zero_product (every factor the constant init_scale except the last, which is 0: z starts at 0 and may take either sign), constant (every factor init_scale, V1's v = 1: z keeps the sign of init_scale^D), normal (N(0, init_scale^2) entries); matrix factors are always normal with std init_scale / sqrt(rank); the terms of a sum each by their own rule, a product term of weight w at init_scale / sqrt(w)")
    init_scale: float = Field(1.0, gt=0.0, le=100.0, description="initial scale")
    candidate: str | None = Field(None, max_length=200, description="id of the design's candidate to validate (default: the best)")
    polish: bool = Field(True, description="weight decay: finish with L-BFGS on the same parameterization and objective")
    support_tolerance: float = Field(1e-6, ge=0.0, description="|z_i| above this counts as support when comparing with the solver")
    tolerance: float | None = Field(None, gt=0.0, le=10.0, description="verdict: largest relative excess of the trained objective over the trusted solver's (default 1e-4 for weight decay with the L-BFGS finish, 1e-2 without, 0.05 for the noise mechanisms)")
    float64: bool = Field(True, description="train in float64 (else float32)")


__all__ = ["ValidationSpec"]
