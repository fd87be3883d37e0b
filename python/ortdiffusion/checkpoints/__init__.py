"""The weight files people download, read without unpickling: the original (LDM) layout's key names turned into
diffusers' (a VAE so far), and pickled checkpoints refused with a message saying why and what to do."""

from ortdiffusion.checkpoints.ldm_vae import ldm_vae_to_diffusers
from ortdiffusion.checkpoints.pickles import refuse_pickle
from ortdiffusion.checkpoints.weights_file import read_weights_file

__all__ = ["ldm_vae_to_diffusers", "read_weights_file", "refuse_pickle"]
