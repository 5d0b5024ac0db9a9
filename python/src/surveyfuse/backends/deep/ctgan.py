"""Conditional WGAN-GP for a block in the CTGAN style (Xu et al. 2019).

What CTGAN brings, and how it is adapted to drawing Y given a recipient's x:

* generator G(z, x, cond) and critic D(y, x, cond) both see the predictors'
  design row x, so the critic judges (y, x) pairs and G learns p(y | x);
* Wasserstein loss with gradient penalty (Gulrajani et al. 2017);
* PacGAN (Lin et al. 2018): the critic scores groups of ``pac`` rows at once,
  which penalises a generator that collapses onto few modes;
* training-by-sampling: for a share ``cond_prob`` of a minibatch, a softmax
  segment (a category or a point-mass mode) and one of its classes are picked
  with probability ~ log(1 + weighted frequency), the real rows are drawn from
  that class and G is told the class (and penalised by cross-entropy when it
  does not produce it), so rare categories and rare modes are learned. The
  other rows get an empty condition vector, which is what drawing uses:
  at sampling time the class must come from x, not from the donor's margins;
* categorical outputs use Gumbel-softmax during training and exact draws
  from keyed uniforms at sampling time.

Our quantile-normal encoder (or ``transform="log"``) replaces CTGAN's
variational Gaussian mixture mode normalisation: with the point-mass modes
it captures the same multimodality at a fraction of the fitting cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ... import rng
from ..params import POSITIVE_INT, param, with_default
from .base import COMMON_PROPERTIES, DeepBackend, Noise, hidden_param, weight_param
from .defaults import AUTO


class _Residual(nn.Module):
    """CTGAN's generator block: output concatenated to input."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.fc = nn.Linear(d_in, d_out)
        self.norm = nn.LayerNorm(d_out)  # layer norm, not batch norm: a row's draw never depends on its batch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.norm(self.fc(x))), x], dim=1)


class _Generator(nn.Module):
    def __init__(self, d_in: int, hidden: list[int], dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = d_in
        for h in hidden:
            layers.append(_Residual(d, h))
            d += h
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(d, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x))


class _Critic(nn.Module):
    def __init__(self, d_in: int, hidden: list[int], pac: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.pac = pac
        layers: list[nn.Module] = []
        d = d_in * pac
        for h in hidden:
            layers += [nn.Linear(d, h), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
            d = h
        self.features = nn.Sequential(*layers)
        self.out = nn.Linear(d, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x.reshape(-1, x.shape[1] * self.pac))
        return self.out(f), f


class _GAN(nn.Module):
    def __init__(self, dim: int, cond_dim: int, cond_vec: int, noise_dim: int, g_hidden: list[int],
                 d_hidden: list[int], pac: int) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.generator = _Generator(noise_dim + cond_dim + cond_vec, g_hidden, dim)
        self.critic = _Critic(dim + cond_dim + cond_vec, d_hidden, pac)


class CTGAN(DeepBackend):
    """``method="ctgan"``: a conditional Wasserstein GAN in the CTGAN style (see the module docstring).

    Parameters
    ----------
    noise_dim : int, default 64
        Size of the generator's noise input.
    generator_hidden, critic_hidden : "auto" or list of int
        Hidden layer widths (recipe [128, 128]); ``"auto"`` (the default) scales the recipe's widths by sqrt(donor rows / 8000),
        between a quarter and all of them.
    pac : int, default 10
        Rows the critic judges together (PacGAN).
    critic_steps : int, default 1
        Critic updates per generator update.
    gp_weight : float, default 10.0
        Weight of the gradient penalty.
    cond_prob : float, default 0.5
        Share of a minibatch trained with a sampled condition (rare classes and modes).
    epochs, batch_size, lr, eval_every, patience
        As for every generative method; "auto" settings follow the donor size up to the recipe
        300 epochs, batches of 500, eval_every 10 (lr 1e-3, patience 5); see ``DeepBackend``.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=20, seed=0)
    >>> out = sf.impute(donor, recipient, block=["interest", "dividends"], predictors=["age", "wage"],
    ...                 method="ctgan", params={"epochs": 2, "generator_hidden": [16], "critic_hidden": [16], "pac": 2}, draws=2, seed=0)
    >>> len(out)
    40
    """

    name = "ctgan"
    method_properties = {
        "noise_dim": param(64, "a positive integer", "Size of the generator's noise input.", **POSITIVE_INT),
        "generator_hidden": hidden_param("Generator layer widths ('auto': from the donor size)."),
        "critic_hidden": hidden_param("Critic layer widths ('auto': from the donor size)."),
        "pac": param(10, "a positive integer", "Rows the critic judges together (PacGAN).", **POSITIVE_INT),
        "critic_steps": param(1, "a positive integer", "Critic updates per generator update.", **POSITIVE_INT),
        "gp_weight": weight_param(10.0, 0.0, 1e4, "Weight of the gradient penalty."),
        "cond_prob": weight_param(0.5, 0.0, 1.0, "Share of batches conditioned on a sampled category."),
        "lr": with_default(COMMON_PROPERTIES["lr"], 1e-3),
        "patience": with_default(COMMON_PROPERTIES["patience"], 5),
        # its levels come out too flat in income (slope, top 1 %) without it: docs/generative.md, *Levels*
        "levels": with_default(COMMON_PROPERTIES["levels"], "calibrate"),
        "weight_decay": weight_param(AUTO, 0.0, 1.0, "Adam weight decay ('auto': fades as the donor grows).", auto=True),
        "score_weight": weight_param(AUTO, 0.0, 100.0, "Weight of the energy-score term in the generator's loss "
                                     "('auto': from 20 on small donors to 4).", auto=True),
    }
    # 128-unit layers trained up to 300 epochs (early stopping ends sooner) beat
    # 256 units capped at 150 on the wage split: energy 0.566 vs 0.610, 90% coverage 0.88 vs 0.80
    # score_weight: 20 beat 4 on 300 donors (energy -5 to -9 %, three blocks), 4 beat 20 on 1,000-3,000 (bench_deep)
    recipe = {"epochs": 300, "batch_size": 500, "min_batch": 100, "eval_every": 10, "generator_hidden": [128, 128],
              "critic_hidden": [128, 128], "weight_decay": (1e-4, 0.0, 2000), "score_weight": (20.0, 4.0, 200)}

    def check_params(self) -> None:
        super().check_params()
        if self.params["batch_size"] != AUTO and self.params["batch_size"] < self.params["pac"]:
            raise self._bad_param("batch_size", "at least 'pac'")

    # ------------------------------------------------------------------ architecture
    def _arch(self) -> dict[str, Any]:
        cond_vec = sum(w for _, w in self.layout_["cat"])
        return {**super()._arch(), "cond_vec": cond_vec, "noise_dim": self.params["noise_dim"],
                "g_hidden": list(self.setting("generator_hidden")), "d_hidden": list(self.setting("critic_hidden")),
                "pac": self.params["pac"]}

    def _build(self) -> nn.Module:
        a = self.arch_
        return _GAN(a["dim"], a["cond_dim"], a["cond_vec"], a["noise_dim"], a["g_hidden"], a["d_hidden"], a["pac"])

    def _batch_multiple(self) -> int:
        return int(self.params["pac"])

    def _batch_size(self) -> int:
        pac = self.params["pac"]
        b = min(int(self.setting("batch_size")), len(self._train_rows))
        return max(pac, b - b % pac)

    def _setup_optim(self) -> None:
        net: _GAN = self.net_  # type: ignore[assignment]
        lr, wd = self.params["lr"], float(self.setting("weight_decay"))
        self.opt_g_ = torch.optim.Adam(net.generator.parameters(), lr=lr, betas=(0.5, 0.9), weight_decay=wd)
        self.opt_d_ = torch.optim.Adam(net.critic.parameters(), lr=lr, betas=(0.5, 0.9), weight_decay=wd)
        self._setup_conditions()

    # ------------------------------------------------------------------ training-by-sampling
    def _setup_conditions(self) -> None:
        """Per (segment, class): its train rows and weights; class choice prob ~ log(1 + weighted freq)."""
        self._tbs_rng = np.random.default_rng(self._seed + 1)
        V = self._V_train_np
        w = self._train_weights
        self._segments: list[dict[str, Any]] = []
        offset = 0
        for start, width in self.layout_["cat"]:
            codes = V[:, start : start + width].argmax(axis=1)
            freq = np.bincount(codes, weights=w, minlength=width)
            p = np.log1p(freq)
            p = p / p.sum() if p.sum() > 0 else np.full(width, 1.0 / width)
            members = [np.flatnonzero(codes == k) for k in range(width)]
            self._segments.append({"offset": offset, "width": width, "start": start, "p": p, "members": members})
            offset += width

    def _conditions(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(condition vectors, chosen global cond column or -1, replacement train rows or -1)."""
        width = self.arch_["cond_vec"]
        vec = np.zeros((n, width), dtype=np.float32)
        col = np.full(n, -1, dtype=np.int64)
        rows = np.full(n, -1, dtype=np.int64)
        if not self._segments or self.params["cond_prob"] <= 0:
            return vec, col, rows
        r = self._tbs_rng
        use = np.flatnonzero(r.random(n) < self.params["cond_prob"])
        seg_idx = r.integers(0, len(self._segments), size=use.size)
        for i, s in zip(use, seg_idx):
            seg = self._segments[s]
            k = int(r.choice(seg["width"], p=seg["p"]))
            members = seg["members"][k]
            if members.size == 0:
                continue
            wm = self._train_weights[members]
            rows[i] = members[int(rng.inverse_cdf(np.cumsum(wm), r.random()))] if members.size > 1 else members[0]
            col[i] = seg["offset"] + k
            vec[i, col[i]] = 1.0
        return vec, col, rows

    def _train(self, data, weights, train, hold, seed, verbose):  # type: ignore[override]
        self._V_train_np = data["V"][torch.from_numpy(train).to(data["V"].device)].cpu().numpy()
        return super()._train(data, weights, train, hold, seed, verbose)

    # ------------------------------------------------------------------ one step
    def _gumbel(self, raw: torch.Tensor) -> torch.Tensor:
        out = raw.clone()
        for start, width in self.layout_["cat"]:
            out[:, start : start + width] = nn.functional.gumbel_softmax(raw[:, start : start + width], tau=0.2)
        return out

    def _step(self, data: dict[str, torch.Tensor], idx: torch.Tensor, epoch: int) -> float:
        net: _GAN = self.net_  # type: ignore[assignment]
        dev = idx.device
        n = len(idx)
        vec_np, col_np, rows_np = self._conditions(n)
        idx = idx.clone()
        swap = rows_np >= 0
        if swap.any():
            idx[torch.from_numpy(np.flatnonzero(swap)).to(dev)] = torch.from_numpy(self._train_rows[rows_np[swap]]).to(dev)
        real, c = data["V"][idx], data["C"][idx]
        vec = torch.from_numpy(vec_np).to(dev)
        cx = torch.cat([c, vec], dim=1)
        for _ in range(self.params["critic_steps"]):
            z = torch.randn(n, net.noise_dim, device=dev)
            fake = self._gumbel(net.generator(torch.cat([z, cx], dim=1))).detach()
            d_real, _ = net.critic(torch.cat([real, cx], dim=1))
            d_fake, _ = net.critic(torch.cat([fake, cx], dim=1))
            gp = self._gradient_penalty(net.critic, torch.cat([real, cx], dim=1), torch.cat([fake, cx], dim=1))
            loss_d = d_fake.mean() - d_real.mean() + self.params["gp_weight"] * gp
            self.opt_d_.zero_grad()
            loss_d.backward()
            self.opt_d_.step()
        z = torch.randn(n, net.noise_dim, device=dev)
        raw = net.generator(torch.cat([z, cx], dim=1))
        fake = self._gumbel(raw)
        d_fake, f_fake = net.critic(torch.cat([fake, cx], dim=1))
        loss_g = -d_fake.mean() + self._condition_loss(raw, col_np)
        loss_g = loss_g + self._extra_generator_loss(real, fake, c, net, cx, f_fake)
        if float(self.setting("score_weight")) > 0:
            z2 = torch.randn(n, net.noise_dim, device=dev)
            fake2 = self._gumbel(net.generator(torch.cat([z2, cx], dim=1)))
            loss_g = loss_g + float(self.setting("score_weight")) * self._energy_loss(fake, fake2, real)
        self.opt_g_.zero_grad()
        loss_g.backward()
        self.opt_g_.step()
        return float(loss_d.detach())

    def _energy_loss(self, a: torch.Tensor, b: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """Energy score of two generated rows per real row (encoded space): a proper scoring rule
        that anchors the generator to each row's conditional distribution, which the critic alone
        does poorly on small donors."""
        a, b, real = self._canonical(a), self._canonical(b), self._canonical(real)
        eps = 1e-8  # keeps the norm's gradient finite at 0
        dist = lambda u, v: torch.sqrt(((u - v) ** 2).sum(dim=1) + eps)  # noqa: E731
        return (0.5 * (dist(a, real) + dist(b, real)) - 0.5 * dist(a, b)).mean()

    def _gradient_penalty(self, critic: _Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        pac = critic.pac
        alpha = torch.rand(real.shape[0] // pac, 1, 1, device=real.device).repeat(1, pac, real.shape[1]).reshape(real.shape)
        mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        score, _ = critic(mix)
        grad = torch.autograd.grad(score.sum(), mix, create_graph=True)[0]
        grad = grad.reshape(-1, pac * real.shape[1])
        return ((grad.norm(2, dim=1) - 1) ** 2).mean()

    def _condition_loss(self, raw: torch.Tensor, col: np.ndarray) -> torch.Tensor:
        """Cross-entropy of the told class in its segment (training-by-sampling)."""
        loss = torch.zeros((), device=raw.device)
        if not (col >= 0).any():
            return loss
        total = 0
        for seg in self._segments:
            sel = np.flatnonzero((col >= seg["offset"]) & (col < seg["offset"] + seg["width"]))
            if sel.size == 0:
                continue
            s = torch.from_numpy(sel).to(raw.device)
            target = torch.from_numpy(col[sel] - seg["offset"]).to(raw.device)
            logits = raw[s, seg["start"] : seg["start"] + seg["width"]]
            loss = loss + nn.functional.cross_entropy(logits, target, reduction="sum")
            total += sel.size
        return loss / max(len(col), 1)

    def _extra_generator_loss(self, real, fake, c, net, cx, f_fake) -> torch.Tensor:  # noqa: ANN001
        """Hook for CTAB-GAN+'s auxiliary losses."""
        return torch.zeros((), device=real.device)

    # ------------------------------------------------------------------ sampling
    def _generate(self, C: torch.Tensor, noise: Noise) -> torch.Tensor:
        net: _GAN = self.net_  # type: ignore[assignment]
        z = noise("normal", net.noise_dim, 1)
        vec = torch.zeros(len(C), self.arch_["cond_vec"], device=C.device)
        raw = net.generator(torch.cat([z, C, vec], dim=1))
        return self._finish(raw, noise, 2)
