"""What every Stable Diffusion pipeline shares: loading, input checks, prompt encoding, the denoising loop
with classifier-free guidance, VAE encoding/decoding. Mirrors diffusers' ``StableDiffusionPipeline``
helpers of the same names (``encode_prompt``, ``prepare_latents``, ``get_timesteps``...)."""

from __future__ import annotations

import inspect
import logging
import math
import numbers
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import onnxruntime as ort
from tqdm.auto import tqdm

from ortdiffusion.deep_cache import check_cache_interval
from ortdiffusion.image import postprocess
from ortdiffusion.pipelines.bound_run import BoundRun
from ortdiffusion.pipelines.components import PipelineComponents, load_components
from ortdiffusion.pipelines.deep_cache_steps import DeepCacheSteps
from ortdiffusion.pipelines.guidance_embedding import guidance_scale_embedding
from ortdiffusion.pipelines.noise import randn
from ortdiffusion.pipelines.output import StableDiffusionPipelineOutput
from ortdiffusion.pipelines.scheduler_choice import as_pipeline_scheduler
from ortdiffusion.pipelines.textual_inversion import TextualInversionSupport
from ortdiffusion.pipelines.vae_weights import VaeWeightsSupport
from ortdiffusion.prompts.attention import plain_text
from ortdiffusion.prompts.syntax import check_prompt_syntax
from ortdiffusion.prompts.weighted_embeddings import empty_chunk_embedding, weighted_embeddings
from ortdiffusion.schedulers.config_mixin import SchedulerConfigMixin
from ortdiffusion.sessions import require_inputs

logger = logging.getLogger(__name__)

# Words as the user wrote them ("4k", "photo-realistic", "don't"): the unknown-word warning names these,
# not the tokenizer's pieces; punctuation is left out (it steers nothing either way).
_WORDS = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")

OUTPUT_TYPES = ("pil", "np", "latent")
CALLBACK_TENSOR_INPUTS = ("latents", "prompt_embeds")
UNET_INPUTS = ["sample", "timestep", "encoder_hidden_states"]
CONTROLNET_INPUTS = ["controlnet_cond", "conditioning_scale"]
# diffusers' DiagonalGaussianDistribution clamps the log-variance to this range before exp
LOGVAR_RANGE = (-30.0, 20.0)

# A step hook: (step index, timestep, UNet sample input) -> extra/replaced UNet feeds
FeedHook = Callable[[int, int, np.ndarray], dict]
# A post-step hook: (step index, latents after the scheduler step) -> latents
PostStepHook = Callable[[int, np.ndarray], np.ndarray]


def is_real(value: Any) -> bool:
    """A real number (Python or numpy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def is_integer(value: Any) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def as_prompt_list(prompt: Any, name: str = "prompt") -> list[str]:
    """``prompt`` (a string or a list of strings) as a non-empty list, or a TypeError naming ``name``."""
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, (list, tuple)) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise TypeError(f"`{name}` must be a string or a non-empty list of strings, got {prompt!r}")
    return list(prompts)


def rescale_noise_cfg(noise_cfg: np.ndarray, noise_pred_text: np.ndarray, guidance_rescale: float) -> np.ndarray:
    """diffusers' ``rescale_noise_cfg`` (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps
    are Flawed", section 3.4): the guided prediction rescaled to the text prediction's standard deviation per
    sample, mixed with the unrescaled one by ``guidance_rescale``."""
    axes = tuple(range(1, noise_pred_text.ndim))
    std_text = noise_pred_text.std(axis=axes, keepdims=True, ddof=1, dtype=np.float32)  # torch's std: unbiased
    std_cfg = noise_cfg.std(axis=axes, keepdims=True, ddof=1, dtype=np.float32)
    rescaled = noise_cfg * (std_text / std_cfg)
    return np.float32(guidance_rescale) * rescaled + np.float32(1.0 - guidance_rescale) * noise_cfg


def require_input(value: Any, name: str, what: str) -> None:
    """ValueError naming ``name`` when a required input is None (the argument is optional only so that
    ``prompt`` may be left out when ``prompt_embeds`` is given, as in diffusers)."""
    if value is None:
        raise ValueError(f"`{name}` is required ({what})")


def embeddings_array(value: Any, name: str, ndim: int = 3) -> np.ndarray:
    """``prompt_embeds`` / ``negative_prompt_embeds`` (numpy or torch) as a float32 [batch, tokens, width]
    (or another array of ``ndim`` dimensions given as numpy or torch, e.g. latents)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().float().numpy()
    array = np.asarray(value, dtype=np.float32)
    if array.ndim != ndim:
        what = "[batch, tokens, width] text embeddings" if ndim == 3 else f"a {ndim}-d array"
        raise ValueError(f"`{name}` must be {what}, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{name}` contains NaN or infinite values")
    return array


class StableDiffusionPipelineBase(TextualInversionSupport, VaeWeightsSupport):
    """Shared machinery; use the task classes (``StableDiffusionPipeline`` ...)."""

    task: ClassVar[str] = "text-to-image"
    needs_vae_encoder: ClassVar[bool] = False
    uses_controlnet: ClassVar[bool] = False
    unet_channels: ClassVar[tuple[int, ...]] = (4,)

    def __init__(self, components: PipelineComponents) -> None:
        self.components = components
        self._progress_bar_config: dict[str, Any] = {}
        self._check_unet()

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike,
        provider: str = "CPUExecutionProvider",
        sess_options: ort.SessionOptions | None = None,
        provider_options: dict | None = None,
        graph_cache: bool | str | os.PathLike = True,
        scheduler: Any = None,
        vae_decoder: str = "default",
    ) -> StableDiffusionPipelineBase:
        """Load an exported folder (``ortdiffusion export`` or ``optimum-cli export onnx``) on ``provider``
        (a full or short ONNX Runtime provider name) with optional SessionOptions. ``graph_cache`` keeps
        ONNX Runtime's optimized graphs so later loads skip optimization (True: the default folder,
        ``$ORTDIFFUSION_CACHE_DIR`` or ``~/.cache/ortdiffusion/optimized``; a path; False: off).
        ``scheduler`` replaces the scheduler the folder's ``scheduler_config.json`` names (as in
        diffusers; see :attr:`scheduler`). ``vae_decoder="tiny"`` decodes with the folder's tiny VAE decoder
        (diffusers' AutoencoderTiny, TAESD: exporter/tiny_vae.py) instead of the model's own."""
        pipe = cls(load_components(path, provider, sess_options, provider_options, cls.needs_vae_encoder, graph_cache,
                                   vae_decoder))
        if scheduler is not None:
            pipe.scheduler = scheduler
        return pipe

    @property
    def scheduler(self) -> SchedulerConfigMixin:
        """The scheduler calls run: by default the class the folder's ``scheduler_config.json`` names
        (PNDMScheduler for a stock SD 1.5 folder). Set it as in diffusers:
        ``pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)``. Each call runs a fresh copy
        (same class and config), so one pipeline can serve several threads."""
        return self.components.scheduler

    @scheduler.setter
    def scheduler(self, scheduler: Any) -> None:
        self.components.scheduler = as_pipeline_scheduler(scheduler)

    def set_progress_bar_config(self, **kwargs: Any) -> None:
        """Options for the tqdm progress bar over denoising steps (e.g. ``disable=True``), as in diffusers."""
        self._progress_bar_config = dict(kwargs)

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent (8 for Stable Diffusion)."""
        return self.components.vae_scale_factor

    # -- checks ---------------------------------------------------------------------------------------------

    def _check_unet(self) -> None:
        unet = self.components.unet
        needed = UNET_INPUTS + (CONTROLNET_INPUTS if self.uses_controlnet else [])
        require_inputs(unet.session, needed, str(unet.path), self.task)
        if not self.uses_controlnet and self.components.num_controlnets:
            raise ValueError(
                f"{unet.path} is a UNet+ControlNet export; {self.task} needs a plain UNet "
                "(use StableDiffusionControlNetPipeline / StableDiffusionControlNetImg2ImgPipeline with this folder)"
            )
        channels = self.components.unet_in_channels
        if channels not in self.unet_channels:
            hint = " (an inpainting UNet: use StableDiffusionInpaintPipeline)" if channels == 9 else ""
            raise ValueError(
                f"{unet.path} takes {channels} input channels{hint}; {self.task} needs "
                f"{' or '.join(map(str, self.unet_channels))}"
            )

    def check_common_inputs(
        self,
        prompt: Any,
        negative_prompt: Any,
        height: int,
        width: int,
        num_inference_steps: Any,
        num_images_per_prompt: Any,
        guidance_scale: Any,
        eta: Any,
        output_type: str,
        callback_on_step_end_tensor_inputs: Sequence[str],
        prompt_embeds: Any = None,
        negative_prompt_embeds: Any = None,
    ) -> tuple[list[str], list[str]]:
        """diffusers' ``check_inputs`` for what all tasks share; returns (prompts, negative prompts). With
        ``prompt_embeds`` (and no ``prompt``) the prompts are placeholders, one per embedding."""
        if prompt is not None and prompt_embeds is not None:
            raise ValueError("Cannot forward both `prompt` and `prompt_embeds`: pass only one of them")
        if prompt is None and prompt_embeds is None:
            raise ValueError("Provide either `prompt` or `prompt_embeds`")
        if negative_prompt is not None and negative_prompt_embeds is not None:
            raise ValueError("Cannot forward both `negative_prompt` and `negative_prompt_embeds`: pass only one of them")
        if prompt_embeds is not None:
            embeds = embeddings_array(prompt_embeds, "prompt_embeds")
            width = self.components.unet.static_dim("encoder_hidden_states", 2)
            if width is not None and embeds.shape[2] != width:
                raise ValueError(f"`prompt_embeds` are {embeds.shape[2]} wide but the UNet takes {width}-wide text "
                                 "embeddings")
            if negative_prompt_embeds is not None:
                negative = embeddings_array(negative_prompt_embeds, "negative_prompt_embeds")
                if negative.shape != embeds.shape:
                    raise ValueError(
                        "`prompt_embeds` and `negative_prompt_embeds` must have the same shape when passed directly, "
                        f"but got: `prompt_embeds` {embeds.shape} != `negative_prompt_embeds` {negative.shape}"
                    )
            prompt = [""] * embeds.shape[0]
        prompts = as_prompt_list(prompt)
        if negative_prompt is None:
            negatives = [""] * len(prompts)
        else:
            negatives = as_prompt_list(negative_prompt, "negative_prompt")
            if len(negatives) == 1 and len(prompts) > 1:
                negatives = negatives * len(prompts)
            if len(negatives) != len(prompts):
                raise ValueError(
                    f"`negative_prompt` has batch size {len(negatives)}, but `prompt` has {len(prompts)}; "
                    "pass one negative prompt or one per prompt"
                )
        self.check_size(height, width)
        if not is_integer(num_inference_steps) or num_inference_steps < 1:
            raise ValueError(f"`num_inference_steps` must be an integer >= 1, got {num_inference_steps!r}")
        if not is_integer(num_images_per_prompt) or num_images_per_prompt < 1:
            raise ValueError(f"`num_images_per_prompt` must be an integer >= 1, got {num_images_per_prompt!r}")
        if not is_real(guidance_scale) or not math.isfinite(guidance_scale):
            raise ValueError(f"`guidance_scale` must be a finite number, got {guidance_scale!r}")
        if not is_real(eta) or not 0 <= eta < math.inf:
            raise ValueError(f"`eta` must be a finite number >= 0, got {eta!r}")
        if output_type not in OUTPUT_TYPES:
            raise ValueError(f"`output_type` must be one of {OUTPUT_TYPES}, got {output_type!r}")
        unknown = [k for k in callback_on_step_end_tensor_inputs if k not in CALLBACK_TENSOR_INPUTS]
        if unknown:
            raise ValueError(f"`callback_on_step_end_tensor_inputs` {unknown} are not among {list(CALLBACK_TENSOR_INPUTS)}")
        return prompts, negatives

    def check_size(self, height: int | None, width: int | None) -> None:
        """``height`` and ``width`` (None = not given) are positive multiples of the VAE scale factor."""
        factor = self.vae_scale_factor
        for name, value in (("height", height), ("width", width)):
            if value is None:
                continue
            if not is_integer(value):
                raise TypeError(f"`{name}` must be an integer, got {value!r}")
            if value <= 0 or value % factor:
                raise ValueError(
                    f"`height` and `width` have to be positive and divisible by {factor} but are {height} and {width}."
                )

    @staticmethod
    def check_strength(strength: Any) -> float:
        """``strength`` as a float in [0, 1], or a ValueError naming it."""
        if not is_real(strength) or not 0 <= strength <= 1:
            raise ValueError(f"The value of `strength` should be in [0.0, 1.0] but is {strength!r}")
        return float(strength)

    @staticmethod
    def check_latents(latents: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """User-provided ``latents`` as float32 of the expected ``shape``, all finite."""
        array = np.asarray(latents.numpy() if hasattr(latents, "numpy") else latents, dtype=np.float32)
        if array.shape != tuple(shape):
            raise ValueError(f"`latents` have shape {array.shape}, expected {tuple(shape)}")
        if not np.isfinite(array).all():
            raise ValueError("`latents` contain NaN or infinite values")
        return array

    # -- prompt ---------------------------------------------------------------------------------------------

    def encode_prompt(
        self, prompts: list[str], negatives: list[str], num_images_per_prompt: int, do_classifier_free_guidance: bool,
        prompt_syntax: str = "plain", prompt_embeds: Any = None, negative_prompt_embeds: Any = None,
        clip_skip: int | None = None,
    ) -> np.ndarray:
        """Text embeddings [(2 x) B * n, 77 k, D]: negatives first when guiding, each prompt's embedding repeated
        ``num_images_per_prompt`` times in a row (diffusers' ``encode_prompt`` + the CFG concatenation).
        ``prompt_syntax`` "plain" is diffusers' (77 tokens, truncated with a warning); "a1111" reads
        AUTOMATIC1111's weights and BREAK and takes any length in 77-token chunks (k of them, the shorter
        prompts padded with the empty prompt's chunk)."""
        check_prompt_syntax(prompt_syntax)
        if prompt_embeds is not None:
            return self._given_embeddings(negatives, num_images_per_prompt, do_classifier_free_guidance,
                                          prompt_syntax, prompt_embeds, negative_prompt_embeds, clip_skip)
        texts = self.maybe_convert_prompt(negatives + prompts if do_classifier_free_guidance else prompts)
        self._warn_unknown_words(texts if prompt_syntax == "plain" else [plain_text(t) for t in texts])
        encode = self._text_encoder_output(clip_skip)
        if prompt_syntax == "a1111":
            hidden = weighted_embeddings(texts, self.components.tokenizer, encode)
            self._check_sequence_length(hidden.shape[1])
        else:
            hidden = encode(self.components.tokenizer(texts))
        if not do_classifier_free_guidance:
            return np.repeat(hidden, num_images_per_prompt, axis=0)
        negative, positive = np.split(hidden, 2)
        return np.concatenate([np.repeat(negative, num_images_per_prompt, axis=0),
                               np.repeat(positive, num_images_per_prompt, axis=0)])

    def _text_encoder_output(self, clip_skip: int | None) -> Callable[[np.ndarray], np.ndarray]:
        """input_ids -> the text embeddings: the last hidden state, or with ``clip_skip`` = k the hidden states
        k layers before the last through the final layer norm (diffusers' clip_skip)."""
        text_encoder = self.components.text_encoder
        if clip_skip is None:
            return lambda ids: text_encoder.run(input_ids=ids)[0].astype(np.float32, copy=False)
        if not is_integer(clip_skip) or clip_skip < 0:
            raise ValueError(f"`clip_skip` must be an integer >= 0, got {clip_skip!r}")
        names = list(text_encoder.outputs)
        if "normed_hidden_states" not in names:
            raise ValueError(
                f"{text_encoder.path} has no normed_hidden_states output, which clip_skip needs (exports before this "
                "version, optimum's): export the model again with `ortdiffusion export`"
            )
        index = names.index("normed_hidden_states")

        def encode(ids: np.ndarray) -> np.ndarray:
            layers = text_encoder.run(input_ids=ids)[index]
            if clip_skip + 1 > layers.shape[0]:
                raise ValueError(f"`clip_skip` {clip_skip} is past the text encoder's {layers.shape[0] - 1} layers")
            return layers[-(clip_skip + 1)].astype(np.float32, copy=False)

        return encode

    def _given_embeddings(
        self, negatives: list[str], num_images_per_prompt: int, do_classifier_free_guidance: bool, prompt_syntax: str,
        prompt_embeds: Any, negative_prompt_embeds: Any, clip_skip: int | None = None,
    ) -> np.ndarray:
        """encode_prompt with ``prompt_embeds`` given: used as they are; without ``negative_prompt_embeds`` the
        negative prompts (or "") are encoded, to as many tokens as the given embeddings (diffusers'
        ``max_length=prompt_embeds.shape[1]``; multiples of 77 are padded with the empty prompt's chunk)."""
        positive = embeddings_array(prompt_embeds, "prompt_embeds")
        self._check_sequence_length(positive.shape[1])
        repeated = np.repeat(positive, num_images_per_prompt, axis=0)
        if not do_classifier_free_guidance:
            return repeated
        if negative_prompt_embeds is not None:
            negative = embeddings_array(negative_prompt_embeds, "negative_prompt_embeds")
        else:
            negative = self.encode_prompt([*negatives], [], 1, False, prompt_syntax, clip_skip=clip_skip)
            tokens = positive.shape[1]
            if negative.shape[1] < tokens and tokens % negative.shape[1] == 0:
                empty = empty_chunk_embedding(self.components.tokenizer, self._text_encoder_output(clip_skip))
                negative = np.concatenate([negative] + [np.repeat(empty, len(negatives), axis=0)] *
                                          ((tokens - negative.shape[1]) // empty.shape[1]), axis=1)
            if negative.shape[1] != tokens:
                raise ValueError(f"the negative prompt encodes to {negative.shape[1]} tokens but `prompt_embeds` has "
                                 f"{tokens}; pass `negative_prompt_embeds` of the same shape")
        return np.concatenate([np.repeat(negative, num_images_per_prompt, axis=0), repeated])

    def _check_sequence_length(self, length: int) -> None:
        """ValueError when the UNet was exported for a fixed number of text tokens other than ``length``."""
        fixed = self.components.unet.static_dim("encoder_hidden_states", 1)
        if fixed is not None and fixed != length:
            raise ValueError(
                f"this prompt needs {length} text tokens ({length // 77} chunks of 77) but {self.components.unet.path} "
                f"takes exactly {fixed}: export the model again with `ortdiffusion export` (its UNet takes any "
                "number), or shorten the prompt to 75 tokens"
            )

    def _warn_unknown_words(self, texts: list[str]) -> None:
        """Log the words a vocabulary-pruned text encoder (the embedded model's) cannot tell apart: they all
        read as one blank token, so a prompt made of them steers nothing."""
        known = self.components.known_token_ids
        if known is None:
            return
        for token in sorted(self.components.tokenizer.added_tokens, key=len, reverse=True):  # textual inversions
            texts = [text.replace(token, " ") for text in texts]
        words = sorted({word for text in texts for word in _WORDS.findall(text)})
        unknown = [w for w, ids in zip(words, self.components.tokenizer(words)) if not set(ids.tolist()) <= known]
        if unknown:
            logger.warning(
                "%s was trained on a small vocabulary; these prompt words are unknown to it and read as blanks: %s",
                self.components.folder, ", ".join(unknown),
            )

    # -- latents --------------------------------------------------------------------------------------------

    def encode_image(self, image: np.ndarray, generator: Any) -> np.ndarray:
        """VAE latents of ``image`` ([B, 3, H, W] in [-1, 1]) sampled with ``generator`` and scaled:
        diffusers' ``retrieve_latents(vae.encode(image), generator) * scaling_factor``."""
        encoder = self.components.vae_encoder
        if encoder is None:
            raise ValueError(f"{self.task} needs vae_encoder/model.onnx, which was not loaded")
        out = encoder.run(sample=image)[0].astype(np.float32, copy=False)
        channels = self.components.latent_channels
        if out.shape[1] == 2 * channels:
            # DiagonalGaussianDistribution(parameters).sample(generator): mean + exp(0.5 * logvar) * eps
            mean, logvar = np.split(out, 2, axis=1)
            std = np.exp(np.float32(0.5) * np.clip(logvar, *LOGVAR_RANGE))
            latents = mean + std * randn(generator, mean.shape)
        elif out.shape[1] == channels:
            # older optimum exports draw the sample inside the graph: not reproducible from a seed
            logger.warning(
                "%s returns a latent sample drawn inside the graph; results will not follow the seed "
                "(re-export with ortdiffusion export or a recent optimum)", encoder.path
            )
            latents = out
        else:
            raise ValueError(f"{encoder.path} returns {out.shape[1]} channels; expected {2 * channels} (mean, logvar)")
        return np.float32(self.components.scaling_factor) * latents

    @staticmethod
    def get_timesteps(scheduler: SchedulerConfigMixin, num_inference_steps: int, strength: float = 1.0) -> np.ndarray:
        """The timesteps a call denoises through: all of the scheduler's (``strength`` 1) or, for
        img2img/inpaint, the last ``strength`` of them (diffusers' ``get_timesteps``). Refuses a step count
        whose timesteps run past the noise schedule (SD's ``leading`` spacing with ``steps_offset=1`` reaches
        timestep 1000 at 1000 steps; diffusers fails inside the loop with an IndexError), naming the most
        steps that fit."""
        timesteps = _cut_by_strength(scheduler, num_inference_steps, strength)
        if len(timesteps) == 0:
            raise ValueError(
                f"`strength` {strength} with `num_inference_steps` {num_inference_steps} leaves no denoising step; "
                "raise either"
            )
        if int(timesteps.max()) >= len(scheduler):  # len: num_train_timesteps
            raise ValueError(
                f"num_inference_steps={num_inference_steps} is more steps than this model's noise schedule allows: "
                f"its timesteps would reach {int(timesteps.max())}, past the {len(scheduler)} training timesteps "
                f"(scheduler_config.json: timestep_spacing={scheduler.config.get('timestep_spacing')!r}, "
                f"steps_offset={scheduler.config.get('steps_offset')}); use at most "
                f"{_most_steps(scheduler, num_inference_steps, strength)} steps"
            )
        return timesteps

    def prepare_image_latents(
        self, image: np.ndarray, timestep: Any, batch_size: int, scheduler: SchedulerConfigMixin, generator: Any
    ) -> np.ndarray:
        """img2img's starting latents: the image's latents (tiled to ``batch_size``) noised to ``timestep``
        (diffusers' ``StableDiffusionImg2ImgPipeline.prepare_latents``; same draws in the same order)."""
        init_latents = self.encode_image(image, generator)
        if batch_size % init_latents.shape[0]:
            raise ValueError(f"Cannot duplicate `image` of batch size {init_latents.shape[0]} to {batch_size} text prompts.")
        init_latents = np.concatenate([init_latents] * (batch_size // init_latents.shape[0]))
        noise = randn(generator, init_latents.shape)
        return scheduler.add_noise(init_latents, noise, np.full(batch_size, timestep))

    # -- denoising ------------------------------------------------------------------------------------------

    def _timestep_feed(self, t: Any, batch: int) -> np.ndarray:
        """The UNet's ``timestep`` input for ``t`` in the input's dtype and shape. A fractional timestep
        (Euler-family schedulers) fed to a UNet exported with integer timesteps is rounded to the nearest
        (see :func:`warn_if_timesteps_are_rounded`)."""
        spec = self.components.unet.inputs["timestep"]
        value = np.rint(t) if np.issubdtype(spec.dtype, np.integer) else t
        if len(spec.shape) == 0:
            return np.array(value, dtype=spec.dtype)
        if spec.shape[0] == 1:
            return np.array([value], dtype=spec.dtype)
        return np.full(batch, value, dtype=spec.dtype)

    def denoise(
        self,
        latents: np.ndarray,
        timesteps: np.ndarray,
        scheduler: SchedulerConfigMixin,
        prompt_embeds: np.ndarray,
        guidance_scale: float,
        eta: float,
        generator: Any,
        feed_hook: FeedHook | None = None,
        post_step_hook: PostStepHook | None = None,
        callback_on_step_end: Callable | None = None,
        callback_on_step_end_tensor_inputs: Sequence[str] = ("latents",),
        guidance_rescale: float = 0.0,
        cache_interval: int = 1,
    ) -> np.ndarray:
        """The denoising loop: one UNet run per step (unconditional and text halves batched), the guidance
        combine noise_uncond + g (noise_text - noise_uncond), then ``scheduler.step``. With ``cache_interval``
        N > 1 (DeepCache), the full UNet runs every N-th step and the shallow one in between
        (deep_cache_steps.py).

        Nothing is allocated per step on the common path: the batched UNet input, the UNet output (IO
        binding), the guidance result, the timestep feeds and the scheduler's outputs are buffers made once.
        The new latents alternate between two buffers (a step reads one while it writes the other). With
        ``eta > 0`` or a ``callback_on_step_end`` (which may keep or change the arrays it is given), each
        step's latents are new arrays, as in diffusers."""
        do_cfg = self.do_classifier_free_guidance(guidance_scale)
        unet = self.components.unet
        n = latents.shape[0]
        guidance_feed = self._guidance_condition(guidance_scale, n)
        batched = np.empty((2 * n, *latents.shape[1:]), dtype=np.float32) if do_cfg else None
        guided = np.empty(latents.shape, dtype=np.float32) if do_cfg else None
        warn_if_timesteps_are_rounded(unet, timesteps, scheduler)
        timestep_feeds = [self._timestep_feed(t, 2 * n if do_cfg else n) for t in timesteps]
        noise_buffer = np.empty(((2 * n) if do_cfg else n, *latents.shape[1:]), dtype=np.float32)
        deep_cache = DeepCacheSteps(self.components, cache_interval) if cache_interval > 1 else None
        bound = BoundRun(unet, noise_buffer) if deep_cache is None and BoundRun.fits(unet, noise_buffer) else None
        in_place_steps = (eta == 0 and callback_on_step_end is None and hasattr(scheduler, "step_into")
                          and not getattr(scheduler, "is_stochastic", False))
        latent_buffers = [np.empty(latents.shape, dtype=np.float32) for _ in range(2)] if in_place_steps else []
        step_kwargs = extra_step_kwargs(scheduler, eta, generator)
        with tqdm(total=len(timesteps), **{"unit": "step", **self._progress_bar_config}) as progress:
            for i, t in enumerate(timesteps):
                t = t.item()  # a Python int (DDIM, PNDM) or float (Euler family), as the scheduler gave it
                if do_cfg:
                    batched[:n] = latents
                    batched[n:] = latents
                    model_input = batched
                else:
                    model_input = latents
                model_input = scheduler.scale_model_input(model_input, t)
                feeds = {
                    "sample": model_input,
                    "timestep": timestep_feeds[i],
                    "encoder_hidden_states": prompt_embeds,
                    **guidance_feed,
                }
                if feed_hook is not None:
                    feeds.update(feed_hook(i, t, model_input))
                if deep_cache is not None:
                    noise_pred = deep_cache.run(i, feeds)
                elif bound is not None:
                    noise_pred = bound.run(**feeds)
                else:
                    noise_pred = unet.run(**feeds)[0].astype(np.float32, copy=False)
                if do_cfg:  # noise_uncond + g * (noise_text - noise_uncond), in place (diffusers' pipelines)
                    np.subtract(noise_pred[n:], noise_pred[:n], out=guided)
                    guided *= np.float32(guidance_scale)
                    guided += noise_pred[:n]
                    if guidance_rescale > 0.0:
                        guided = rescale_noise_cfg(guided, noise_pred[n:], guidance_rescale)
                    noise_pred = guided
                if in_place_steps and latents.dtype == np.float32 and latents.flags.c_contiguous:
                    target = latent_buffers[1] if latents is latent_buffers[0] else latent_buffers[0]
                    scheduler.step_into(noise_pred, t, latents, target)
                    latents = target
                else:
                    latents = scheduler.step(noise_pred, t, latents, **step_kwargs).prev_sample
                if post_step_hook is not None:
                    latents = post_step_hook(i, latents)
                if callback_on_step_end is not None:
                    names = {"latents": latents, "prompt_embeds": prompt_embeds}
                    outputs = callback_on_step_end(self, i, t, {k: names[k] for k in callback_on_step_end_tensor_inputs})
                    outputs = outputs or {}
                    latents = np.asarray(outputs.pop("latents", latents), dtype=np.float32)
                    prompt_embeds = np.asarray(outputs.pop("prompt_embeds", prompt_embeds), dtype=np.float32)
                progress.update()
        return latents

    def check_cache_interval(self, cache_interval: Any) -> int:
        """``cache_interval`` as an int >= 1, after checking that this export can run DeepCache when it is > 1
        (ValueError saying what is wrong and how to export for it)."""
        interval = check_cache_interval(cache_interval)
        if interval > 1:
            self.components.shallow_unet()
        return interval

    @staticmethod
    def check_guidance_rescale(guidance_rescale: Any) -> float:
        """``guidance_rescale`` as a float in [0, 1], or ValueError naming it."""
        if not is_real(guidance_rescale) or not 0.0 <= guidance_rescale <= 1.0:
            raise ValueError(f"`guidance_rescale` must be a number in [0, 1], got {guidance_rescale!r}")
        return float(guidance_rescale)

    def do_classifier_free_guidance(self, guidance_scale: float) -> bool:
        """Whether a call guides with an unconditional half (diffusers: guidance_scale > 1 and a UNet without
        a guidance condition; an LCM-distilled UNet takes the scale through ``timestep_cond`` instead)."""
        return guidance_scale > 1.0 and "timestep_cond" not in self.components.unet.inputs

    def _guidance_condition(self, guidance_scale: float, batch_size: int) -> dict[str, np.ndarray]:
        """The ``timestep_cond`` feed of an LCM-distilled UNet (its guidance-scale embedding), else nothing."""
        unet = self.components.unet
        if "timestep_cond" not in unet.inputs:
            if unet.config.get("time_cond_proj_dim") is not None:
                raise ValueError(
                    f"{unet.path.parent} is an LCM-distilled UNet (time_cond_proj_dim="
                    f"{unet.config['time_cond_proj_dim']}) exported without its timestep_cond input: export it again "
                    "with `ortdiffusion export`"
                )
            return {}
        dim = unet.config.get("time_cond_proj_dim") or unet.static_dim("timestep_cond", 1)
        return {"timestep_cond": guidance_scale_embedding(guidance_scale, batch_size, int(dim))}

    def preview(self, latents: np.ndarray) -> Any:
        """A quick picture (PIL) of the first of ``latents`` (the denoising loop's current ones) through the tiny VAE
        decoder (``vae_decoder_tiny/``, exporter/tiny_vae.py), for live previews; None when the folder has none."""
        decoder = self.components.tiny_vae_decoder()
        if decoder is None:
            return None
        first = np.ascontiguousarray(np.asarray(latents, dtype=np.float32)[:1])
        scale = float(decoder.config.get("scaling_factor", 1.0))
        decoded = decoder.run(latent_sample=first / np.float32(scale))[0]
        return postprocess(decoded.astype(np.float32, copy=False), "pil")[0]

    def decode(self, latents: np.ndarray, output_type: str, return_dict: bool) -> Any:
        """Latents -> images (``vae.decode(latents / scaling_factor)`` and diffusers' postprocess)."""
        if output_type == "latent":
            images: Any = latents
        else:
            decoded = self.components.vae_decoder.run(latent_sample=latents / np.float32(self.components.scaling_factor))[0]
            images = postprocess(decoded.astype(np.float32, copy=False), output_type)
        if not return_dict:
            return (images, None)
        return StableDiffusionPipelineOutput(images=images)


def warn_if_timesteps_are_rounded(unet: Any, timesteps: np.ndarray, scheduler: Any) -> None:
    """Warn when ``scheduler`` steps through fractional timesteps but ``unet`` was exported with an
    integer ``timestep`` input (ortdiffusion exports before 0.2, the embedded models): the UNet then sees
    each timestep rounded, so pictures differ slightly from diffusers' (which feeds the fraction)."""
    integer_input = np.issubdtype(unet.inputs["timestep"].dtype, np.integer)
    if integer_input and np.any(np.asarray(timesteps) != np.rint(timesteps)):
        logger.warning(
            "%s takes integer timesteps but %s steps through fractional ones (e.g. %.3f); they are rounded, so "
            "the picture differs slightly from diffusers'. Re-export the model (ortdiffusion export writes a "
            "float timestep input, as optimum does) or use timestep_spacing='leading' or 'trailing'.",
            unet.path, type(scheduler).__name__, float(next(t for t in timesteps if t != np.rint(t))),
        )


def extra_step_kwargs(scheduler: Any, eta: float, generator: Any) -> dict[str, Any]:
    """diffusers' ``prepare_extra_step_kwargs``: ``eta`` and ``generator`` for the schedulers whose
    ``step`` takes them (DDIM's eta; the ancestral and SDE schedulers' noise), nothing for the others."""
    accepted = inspect.signature(scheduler.step).parameters
    kwargs: dict[str, Any] = {}
    if "eta" in accepted:
        kwargs["eta"] = eta
    if "generator" in accepted:
        kwargs["generator"] = generator
    return kwargs


def _cut_by_strength(scheduler: SchedulerConfigMixin, num_inference_steps: int, strength: float) -> np.ndarray:
    """diffusers' ``get_timesteps``: the scheduler's timesteps from ``t_start = n - int(n * strength)`` on."""
    init_timestep = min(int(num_inference_steps * strength), num_inference_steps)
    t_start = max(num_inference_steps - init_timestep, 0)
    timesteps = np.asarray(scheduler.timesteps)[t_start * scheduler.order:]
    if hasattr(scheduler, "set_begin_index") and len(timesteps):
        scheduler.set_begin_index(t_start * scheduler.order)
    return timesteps


def _most_steps(scheduler: SchedulerConfigMixin, too_many: int, strength: float) -> int:
    """The largest step count below ``too_many`` whose timesteps (cut by ``strength``) stay inside the noise
    schedule of ``scheduler``'s config."""
    for count in range(too_many - 1, 0, -1):
        candidate = type(scheduler).from_config(scheduler.config)
        candidate.set_timesteps(count)
        timesteps = _cut_by_strength(candidate, count, strength)
        if len(timesteps) == 0 or int(timesteps.max()) < len(candidate):
            return count
    return 1
