"""Generative tasks on the digits: a VAE and a DCGAN-style GAN.

Facts modules (``config.task``): ``vae_features`` and ``gan_features``. Shared training
(``trainer.vae_run_fn``, ``trainer.gan_run_fn``), Transform (``preprocessing``) and exports
(``export``); names of the serving contract in ``contract``.
"""
