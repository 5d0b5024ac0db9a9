"""Conditional VAE for a block (TVAE, Xu et al. 2019, made conditional on X).

* encoder q(z | y, x) and decoder p(y | z, x) are MLPs that both see the
  predictors' design row x;
* the prior p(z | x) is learned too (a conditional VAE in the sense of Sohn
  et al. 2015), so drawing for a recipient samples z from *its* prior rather
  than from N(0, I);
* the decoder has a Gaussian head (mean and log-scale per row) for every
  continuous slot and a softmax head for every categorical or mode segment;
  continuous slots of point-mass rows are left out of the likelihood.

Loss: negative ELBO = reconstruction NLL + ``beta`` * KL(q || p(z | x)).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..params import POSITIVE_INT, param, with_default
from .base import COMMON_PROPERTIES, DeepBackend, Noise, hidden_param, weight_param
from .defaults import AUTO
from .training import mlp


class _CVAE(nn.Module):
    def __init__(self, dim: int, cond_dim: int, n_cont: int, latent: int, hidden: list[int], dropout: float = 0.0) -> None:
        super().__init__()
        self.latent = latent
        self.n_cont = n_cont
        self.encoder = mlp(dim + cond_dim, hidden, 2 * latent, dropout=dropout)
        self.prior = mlp(cond_dim, hidden[:1], 2 * latent, dropout=dropout) if cond_dim else None
        self.decoder = mlp(latent + cond_dim, list(reversed(hidden)), dim + n_cont, dropout=dropout)

    def prior_params(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.prior is None:
            z = torch.zeros(len(c), self.latent, device=c.device)
            return z, z
        mu, logvar = self.prior(c).chunk(2, dim=-1)
        return mu, logvar.clamp(-8, 4)

    def decode(self, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.decoder(torch.cat([z, c], dim=-1))
        raw, log_sigma = out[:, : out.shape[1] - self.n_cont], out[:, out.shape[1] - self.n_cont :]
        return raw, log_sigma.clamp(-5, 2)


class TVAE(DeepBackend):
    """``method="tvae"``: a conditional variational autoencoder of the block given the predictors.

    Parameters
    ----------
    latent_dim : int, default 16
        Size of the latent code.
    hidden : "auto" or list of int
        Hidden layer widths of the encoder and decoder (recipe [128, 128]); ``"auto"`` (the default) scales the recipe's widths by sqrt(donor rows / 8000),
        between a quarter and all of them.
    beta : float, default 1.0
        Weight of the KL term of the loss.
    epochs, lr
        As for every generative method ("auto" epochs up to the recipe 300; lr 2e-3); see ``DeepBackend``.

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=20, seed=0)
    >>> out = sf.impute(donor, recipient, block=["interest", "dividends"], predictors=["age", "wage"],
    ...                 method="tvae", params={"epochs": 5, "hidden": [16]}, draws=2, seed=0)
    >>> len(out)
    40
    """

    name = "tvae"
    method_properties = {
        "latent_dim": param(16, "a positive integer", "Size of the latent code.", **POSITIVE_INT),
        "hidden": hidden_param("Encoder and decoder layer widths ('auto': from the donor size)."),
        "beta": weight_param(1.0, 0.0, 100.0, "Weight of the KL term of the loss."),
        "lr": with_default(COMMON_PROPERTIES["lr"], 2e-3),
        "take_up": with_default(COMMON_PROPERTIES["take_up"], "calibrate"),
        "dropout": weight_param(AUTO, 0.0, 0.9, "Dropout of the hidden layers ('auto': fades as the donor grows).", auto=True),
        "weight_decay": weight_param(AUTO, 0.0, 1.0, "Adam weight decay ('auto': fades as the donor grows).", auto=True),
    }
    #: five fits up to 10,000 donor rows: a network's own level varies from fit to fit by several per cent
    #: (wages' mean -3 % to +10 % of the donor's on 5,000 rows), which one fit's calibration draws cannot
    #: carry; five fits bring Rubin's intervals to the forest's coverage (docs/generative.md, *Large donors*)
    auto_refit_rows = 10_000
    recipe = {"epochs": 300, "batch_size": 500, "eval_every": 5, "hidden": [128, 128], "dropout": (0.1, 0.0, 2000),
              "weight_decay": (1e-4, 0.0, 2000)}

    def _arch(self) -> dict[str, Any]:
        return {**super()._arch(), "n_cont": len(self.layout_["cont"]), "latent": self.params["latent_dim"],
                "hidden": list(self.setting("hidden")), "dropout": float(self.setting("dropout"))}

    def _build(self) -> nn.Module:
        a = self.arch_
        return _CVAE(a["dim"], a["cond_dim"], a["n_cont"], a["latent"], a["hidden"], a.get("dropout", 0.0))

    def _step(self, data: dict[str, torch.Tensor], idx: torch.Tensor, epoch: int) -> float:
        net: _CVAE = self.net_  # type: ignore[assignment]
        v, c, mask = data["V"][idx], data["C"][idx], data["mask"][idx]
        mu, logvar = net.encoder(torch.cat([v, c], dim=-1)).chunk(2, dim=-1)
        logvar = logvar.clamp(-8, 4)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        raw, log_sigma = net.decode(z, c)
        nll = self._nll(raw, log_sigma, v, mask)
        pmu, plogvar = net.prior_params(c)
        kl = 0.5 * (plogvar - logvar + (torch.exp(logvar) + (mu - pmu) ** 2) / torch.exp(plogvar) - 1).sum(dim=1)
        loss = (nll + self.params["beta"] * kl).mean()
        self.opt_.zero_grad()
        loss.backward()
        self.opt_.step()
        return float(loss.detach())

    def _nll(self, raw: torch.Tensor, log_sigma: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        nll = torch.zeros(len(v), device=v.device)
        cont = self.layout_["cont"]
        if cont:
            target = v[:, cont]
            mean = raw[:, cont]
            g = 0.5 * ((target - mean) / torch.exp(log_sigma)) ** 2 + log_sigma + 0.5 * math.log(2 * math.pi)
            nll = nll + (g * mask).sum(dim=1)
        for start, width in self.layout_["cat"]:
            target = v[:, start : start + width].argmax(dim=1)
            nll = nll + nn.functional.cross_entropy(raw[:, start : start + width], target, reduction="none")
        return nll

    def _generate(self, C: torch.Tensor, noise: Noise) -> torch.Tensor:
        net: _CVAE = self.net_  # type: ignore[assignment]
        pmu, plogvar = net.prior_params(C)
        z = pmu + torch.exp(0.5 * plogvar) * noise("normal", net.latent, 1)
        raw, log_sigma = net.decode(z, C)
        out = self._finish(raw, noise, 3)
        cont = self.layout_["cont"]
        if cont:
            out[:, cont] = raw[:, cont] + torch.exp(log_sigma) * noise("normal", len(cont), 2)
        return out
