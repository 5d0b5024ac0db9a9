"""Conditional TabDDPM-style diffusion for a block (Kotelnikov et al. 2023).

* continuous slots: Gaussian diffusion (Ho et al. 2020) with a cosine noise
  schedule (Nichol & Dhariwal 2021); the denoiser predicts the noise;
* softmax segments (categories, point-mass modes): multinomial diffusion
  (Hoogeboom et al. 2021): the forward process mixes the one-hot with the
  uniform distribution, q(x_t | x_0) = Cat(abar_t x_0 + (1 - abar_t) / K);
  the denoiser predicts x_0's class probabilities, trained by cross-entropy
  (the x_0-prediction loss of Austin et al. 2021 in place of the posterior KL);
* one MLP denoiser sees the noisy block, a sinusoidal embedding of t and the
  recipient's predictors x.

Sampling uses ``sampling_steps`` (default 30) of the ``timesteps`` training
steps: DDIM-style strided updates (Song et al. 2021) with ``eta`` = 1 being
ancestral sampling, and for the categorical parts the exact posterior
q(x_s | x_t, x_0) for any s < t with the predicted x_0 plugged in. Few steps
keep CPU inference to seconds for thousands of recipients.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..params import POSITIVE_INT, param, with_default
from .base import COMMON_PROPERTIES, DeepBackend, Noise, hidden_param, weight_param, sample_categorical
from .defaults import AUTO
from .training import mlp


def cosine_alphas_bar(T: int, s: float = 0.008) -> np.ndarray:
    """abar_t for t = 0..T-1 (cosine schedule), clipped away from 0 and 1."""
    steps = np.arange(T + 1, dtype=np.float64) / T
    f = np.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    abar = f[1:] / f[0]
    return np.clip(abar, 1e-5, 1 - 1e-5)


class _Denoiser(nn.Module):
    def __init__(self, dim: int, cond_dim: int, hidden: list[int], t_dim: int = 32, dropout: float = 0.0) -> None:
        super().__init__()
        self.t_dim = t_dim
        self.t_embed = nn.Sequential(nn.Linear(t_dim, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.body = mlp(dim + cond_dim + t_dim, hidden, dim, dropout=dropout)

    def forward(self, x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        half = self.t_dim // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=x.device, dtype=x.dtype) / half)
        args = t.to(x.dtype)[:, None] * freqs[None, :]
        emb = self.t_embed(torch.cat([torch.sin(args), torch.cos(args)], dim=-1))
        return self.body(torch.cat([x, emb, c], dim=-1))


class Diffusion(DeepBackend):
    """``method="diffusion"``: a conditional denoising diffusion model of the block given the predictors.

    Parameters
    ----------
    hidden : "auto" or list of int
        Hidden layer widths of the denoiser (recipe [256, 256, 256]); ``"auto"`` (the default) scales the recipe's widths by sqrt(donor rows / 8000),
        between a quarter and all of them.
    timesteps : int, default 1000
        Steps of the noising process the model is trained on.
    sampling_steps : int, default 30
        Steps taken when drawing (at most ``timesteps``).
    eta : float, default 1.0
        Stochasticity of the sampler (0: deterministic DDIM, 1: DDPM-like).
    epochs, batch_size, lr, eval_every, patience
        As for every generative method; "auto" settings follow the donor size up to the recipe
        400 epochs, batches of 256, eval_every 10 (lr 1e-3, patience 5); see ``DeepBackend``.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=20, seed=0)
    >>> out = sf.impute(donor, recipient, block=["interest", "dividends"], predictors=["age", "wage"],
    ...                 method="diffusion", params={"epochs": 3, "hidden": [16], "timesteps": 50, "sampling_steps": 5}, draws=2, seed=0)
    >>> len(out)
    40
    """

    name = "diffusion"
    method_properties = {
        "hidden": hidden_param("Denoiser layer widths ('auto': from the donor size)."),
        "timesteps": param(1000, "a positive integer", "Steps of the noising process the model is trained on.", **POSITIVE_INT),
        "sampling_steps": param(30, "a positive integer", "Steps taken when drawing (at most timesteps).", **POSITIVE_INT),
        "eta": weight_param(1.0, 0.0, 1.0, "Stochasticity of the sampler (0: deterministic DDIM, 1: DDPM-like)."),
        "lr": with_default(COMMON_PROPERTIES["lr"], 1e-3),
        "patience": with_default(COMMON_PROPERTIES["patience"], 5),
        # its levels come out too flat in income (slope, top 1 %) without it: docs/generative.md, *Levels*
        "levels": with_default(COMMON_PROPERTIES["levels"], "calibrate"),
        "dropout": weight_param(AUTO, 0.0, 0.9, "Dropout of the hidden layers ('auto': fades as the donor grows).", auto=True),
        "weight_decay": weight_param(AUTO, 0.0, 1.0, "Adam weight decay ('auto': fades as the donor grows).", auto=True),
    }
    recipe = {"epochs": 400, "batch_size": 256, "eval_every": 10, "hidden": [256, 256, 256], "dropout": (0.1, 0.0, 2000),
              "weight_decay": (1e-4, 0.0, 2000)}

    def check_params(self) -> None:
        super().check_params()
        if self.params["sampling_steps"] > self.params["timesteps"]:
            raise self._bad_param("sampling_steps", "at most 'timesteps'")

    def _arch(self) -> dict[str, Any]:
        return {**super()._arch(), "hidden": list(self.setting("hidden")), "timesteps": self.params["timesteps"],
                "dropout": float(self.setting("dropout"))}

    def _build(self) -> nn.Module:
        a = self.arch_
        self._abar = torch.tensor(cosine_alphas_bar(a["timesteps"]), dtype=torch.float32)
        return _Denoiser(a["dim"], a["cond_dim"], a["hidden"], dropout=a.get("dropout", 0.0))

    # ------------------------------------------------------------------ training
    def _step(self, data: dict[str, torch.Tensor], idx: torch.Tensor, epoch: int) -> float:
        v, c = data["V"][idx], data["C"][idx]
        dev = v.device
        abar_all = self._abar.to(dev)
        t = torch.randint(0, self.arch_["timesteps"], (len(v),), device=dev)
        abar = abar_all[t][:, None]
        x = v.clone()
        cont = self.layout_["cont"]
        eps = torch.randn(len(v), len(cont), device=dev)
        if cont:
            x[:, cont] = torch.sqrt(abar) * v[:, cont] + torch.sqrt(1 - abar) * eps
        for start, width in self.layout_["cat"]:
            probs = abar * v[:, start : start + width] + (1 - abar) / width
            draw = torch.multinomial(probs, 1)[:, 0]
            x[:, start : start + width] = nn.functional.one_hot(draw, width).float()
        out = self.net_(x, t.float(), c)
        loss = torch.zeros((), device=dev)
        if cont:
            # no mask: the slot of a point-mass row is learned as the constant 0 it holds, so it never
            # feeds untrained values into the next denoising step
            loss = loss + ((out[:, cont] - eps) ** 2).mean()
        for start, width in self.layout_["cat"]:
            target = v[:, start : start + width].argmax(dim=1)
            loss = loss + nn.functional.cross_entropy(out[:, start : start + width], target) / max(len(self.layout_["cat"]), 1)
        self.opt_.zero_grad()
        loss.backward()
        self.opt_.step()
        return float(loss.detach())

    # ------------------------------------------------------------------ sampling
    def _generate(self, C: torch.Tensor, noise: Noise) -> torch.Tensor:
        dev = C.device
        T = self.arch_["timesteps"]
        S = self.params["sampling_steps"]
        eta = float(self.params["eta"])
        abar_all = self._abar.to(dev)
        ts = np.unique(np.linspace(0, T - 1, S).round().astype(np.int64))[::-1]
        cont = self.layout_["cont"]
        cats = self.layout_["cat"]
        n = len(C)
        x = torch.zeros(n, self.layout_["dim"], device=dev)
        if cont:
            x[:, cont] = noise("normal", len(cont), 1)
        if cats:
            u0 = noise("uniform", len(cats), 2)
            for j, (start, width) in enumerate(cats):
                x[:, start : start + width] = sample_categorical(torch.zeros(n, width, device=dev), u0[:, j])
        for i, t in enumerate(ts):
            last = i == len(ts) - 1
            s = -1 if last else int(ts[i + 1])
            a_t = abar_all[t]
            a_s = abar_all[s] if s >= 0 else torch.tensor(1.0, device=dev)
            out = self.net_(x, torch.full((n,), float(t), device=dev), C)
            new = torch.zeros_like(x)
            if cont:
                x_t = x[:, cont]
                x0 = ((x_t - torch.sqrt(1 - a_t) * out[:, cont]) / torch.sqrt(a_t)).clamp(-6, 6)
                if last:
                    new[:, cont] = x0
                else:
                    eps = (x_t - torch.sqrt(a_t) * x0) / torch.sqrt(1 - a_t)
                    sigma = eta * torch.sqrt((1 - a_s) / (1 - a_t) * (1 - a_t / a_s))
                    z = noise("normal", len(cont), 10 + 2 * i)
                    new[:, cont] = torch.sqrt(a_s) * x0 + torch.sqrt((1 - a_s - sigma**2).clamp(min=0)) * eps + sigma * z
            if cats:
                u = noise("uniform", len(cats), 11 + 2 * i)
                for j, (start, width) in enumerate(cats):
                    p0 = torch.softmax(out[:, start : start + width], dim=-1)
                    if last:
                        probs = p0
                    else:
                        a_ts = a_t / a_s
                        xt = x[:, start : start + width]
                        probs = (a_ts * xt + (1 - a_ts) / width) * (a_s * p0 + (1 - a_s) / width)
                        probs = probs / probs.sum(dim=-1, keepdim=True)
                    new[:, start : start + width] = sample_categorical(torch.log(probs.clamp(min=1e-30)), u[:, j])
            x = new
        return x
