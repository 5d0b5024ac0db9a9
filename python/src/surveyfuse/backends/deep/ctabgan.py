"""CTAB-GAN+ additions on the conditional WGAN-GP (Zhao et al. 2021, 2024).

Built on :class:`~.ctgan.CTGAN` (same conditioning on x, PacGAN critic,
gradient penalty, training-by-sampling), with what CTAB-GAN+ adds:

* mixed modes: every value holding at least 5 % of the donor weight (exact
  zeros, caps, round amounts, a share's 0 and 1) is its own mode of the
  encoder (``point_masses=True``), so the generator emits point masses
  exactly instead of smearing them;
* a log transform for long tails (``transform="log"``, CTAB-GAN's log
  pre-processing of skewed columns, sign kept for signed ones);
* auxiliary generator losses that keep the block's relations:

  - information loss: the mean and standard deviation of the critic's last
    hidden features must match between real and generated batches;
  - relation loss: the correlation matrix of (block, x) in a generated batch
    must match the real one, which keeps block-block and block-predictor
    dependence (the role of CTAB-GAN's auxiliary classifier, generalised
    from one target column to the whole block).
"""

from __future__ import annotations

import torch

from ..params import with_default
from .base import COMMON_PROPERTIES, weight_param
from .ctgan import CTGAN


def _corr(a: torch.Tensor) -> torch.Tensor:
    a = a - a.mean(dim=0, keepdim=True)
    cov = a.T @ a / max(len(a) - 1, 1)
    sd = torch.sqrt(torch.diagonal(cov).clamp(min=1e-8))
    return cov / (sd[:, None] * sd[None, :])


class CTABGAN(CTGAN):
    """``method="ctabgan"``: ``ctgan`` with CTAB-GAN+'s information and relation losses (see the module docstring).

    Takes every parameter of ``ctgan`` (with wider [256, 256] networks, 150
    epochs, ``transform="log"`` and ``point_masses=True`` by default), and:

    Parameters
    ----------
    info_weight : float, default 1.0
        Weight of the information loss (matching the mean and spread of the
        critic's features of real and generated rows).
    relation_weight : float, default 1.0
        Weight of the relation loss (matching the correlation matrix of the
        block and the predictors between real and generated batches).

    Examples
    --------
    >>> import surveyfuse as sf
    >>> donor, recipient = sf.datasets.make_surveys(n_donor=300, n_recipient=20, seed=0)
    >>> out = sf.impute(donor, recipient, block=["interest", "dividends"], predictors=["age", "wage"],
    ...                 method="ctabgan", params={"epochs": 2, "generator_hidden": [16], "critic_hidden": [16], "pac": 2}, draws=2, seed=0)
    >>> len(out)
    40
    """

    name = "ctabgan"
    method_properties = {
        **CTGAN.method_properties,
        "transform": with_default(COMMON_PROPERTIES["transform"], "log"),
        "point_masses": with_default(COMMON_PROPERTIES["point_masses"], True),
        "info_weight": weight_param(1.0, 0.0, 100.0, "Weight of the information loss (mean and spread of the critic's features)."),
        "relation_weight": weight_param(1.0, 0.0, 100.0, "Weight of the relation loss (correlations of block and predictors)."),
    }
    # measured best with the wider, shorter-trained networks (bench_deep)
    # its information and relation losses already anchor the generator: a larger score weight on small donors did not help
    recipe = {**CTGAN.recipe, "generator_hidden": [256, 256], "critic_hidden": [256, 256], "epochs": 150,
              "score_weight": (4.0, 4.0, 200)}

    def _extra_generator_loss(self, real, fake, c, net, cx, f_fake) -> torch.Tensor:  # noqa: ANN001
        loss = torch.zeros((), device=real.device)
        if self.params["info_weight"] > 0:
            with torch.no_grad():
                _, f_real = net.critic(torch.cat([real, cx], dim=1))
            info = torch.norm(f_real.mean(0) - f_fake.mean(0)) + torch.norm(f_real.std(0) - f_fake.std(0))
            loss = loss + self.params["info_weight"] * info
        if self.params["relation_weight"] > 0:
            keep = c.std(dim=0) > 0
            real_all = torch.cat([real, c[:, keep]], dim=1)
            fake_all = torch.cat([fake, c[:, keep]], dim=1)
            informative = real_all.std(dim=0) > 0
            k = real.shape[1]
            cr = _corr(real_all[:, informative])
            cf = _corr(fake_all[:, informative])
            kb = int(informative[:k].sum())
            diff = (cr - cf)[:kb]  # rows of block variables: block-block and block-x entries
            loss = loss + self.params["relation_weight"] * diff.abs().mean()
        return loss
