"""Training the embedded default model from scratch on CPU (issue 7).

- ``shapes``: the synthetic dataset (coloured shapes on plain or two-tone backgrounds, with captions),
  numpy and OpenCV only.
- ``schedule``, ``models``, ``vae``, ``base``, ``sample``: the torch side (tiny AutoencoderKL, CLIPTextModel
  and UNet2DConditionModel trained with the DDPM objective); run with ``python -m ortdiffusion.training``.

Only ``shapes`` is importable without torch.
"""
