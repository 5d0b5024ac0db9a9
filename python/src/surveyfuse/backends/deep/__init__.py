"""Conditional deep generative backends (torch): tvae, diffusion, ctgan, ctabgan.

All four share :mod:`.encoding` (mixed-variable block encoder),
:mod:`.constraint_layer` (identities by construction) and :mod:`.training`
(device, seeding, weighted minibatches, early stopping, progress). Importing
this package imports torch.
"""
