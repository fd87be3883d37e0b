"""The parts of an exported pipeline folder (ours or optimum's), loaded as ONNX Runtime sessions with
their input specs and configs, so the pipelines read every constant from the model: VAE scaling factor,
latent channels, UNet input channels, default sample size, input dtypes."""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ortdiffusion import _native
from ortdiffusion.cache_dir import default_cache_dir
from ortdiffusion.model_folder import (
    MODEL_FILE,
    TINY_VAE_DECODER,
    folder_int8_types,
    part_folder,
    read_config,
)
from ortdiffusion.models import DEFAULT_MODEL_FOLDERS, embedded_model_folder
from ortdiffusion.pipelines.scheduler_choice import folder_scheduler
from ortdiffusion.schedulers.config_mixin import SchedulerConfigMixin
from ortdiffusion.sessions import (
    TensorSpec,
    create_session,
    create_session_from_graph,
    input_specs,
    output_specs,
    resolve_provider,
)
from ortdiffusion.tokenization import CLIPTokenizer

logger = logging.getLogger(__name__)

# diffusers' AutoencoderKL defaults, used only when an exported folder has no vae config.json
DIFFUSERS_VAE_SCALING_FACTOR = 0.18215
DIFFUSERS_VAE_BLOCKS = 4
SD15_SAMPLE_SIZE = 64


@dataclass
class OnnxModel:
    """One ONNX Runtime session with its specs; :meth:`run` casts inputs to the model's dtypes."""

    path: Path
    session: ort.InferenceSession
    inputs: dict[str, TensorSpec]
    outputs: dict[str, TensorSpec]
    config: dict[str, Any] = field(default_factory=dict)
    extra_feeds: dict[str, np.ndarray] = field(default_factory=dict)  # live LoRA weights, fed on every run
    # Called with every run's prepared feeds (calibration records them); the arrays may be reused buffers.
    feed_observer: Callable[[Mapping[str, np.ndarray]], None] | None = None

    @classmethod
    def load(
        cls,
        folder: Path,
        provider: str,
        sess_options: ort.SessionOptions | None,
        provider_options: dict | None,
        initializers: Mapping[str, np.ndarray] | None = None,
        cache_dir: Path | None = None,
    ) -> OnnxModel:
        """Load ``folder/model.onnx`` and ``folder/config.json``; ``initializers`` replace graph weights;
        ``cache_dir`` holds optimized graphs (see session_cache.py)."""
        path = folder / MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(f"missing model file {str(path)!r}; is {folder.parent} an exported pipeline?")
        session = create_session(path, provider, sess_options, provider_options, initializers, cache_dir)
        return cls(path, session, input_specs(session), output_specs(session), read_config(folder))

    def prepare_feeds(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``feeds`` (names as the model's inputs) as C-contiguous arrays of the inputs' dtypes (cast only
        where needed), plus the live LoRA weights."""
        cast = {}
        for name, value in feeds.items():
            array = np.asarray(value, dtype=self.inputs[name].dtype)  # keeps 0-d (scalar) inputs 0-d
            cast[name] = array if array.flags.c_contiguous else np.ascontiguousarray(array)
        cast.update(self.extra_feeds)
        if self.feed_observer is not None:
            self.feed_observer(cast)
        return cast

    def run(self, **feeds: np.ndarray) -> list[np.ndarray]:
        """Run with ``feeds`` (names as the model's inputs), each cast to the input's dtype if needed."""
        return self.session.run(None, self.prepare_feeds(feeds))

    def static_dim(self, name: str, axis: int) -> int | None:
        """The fixed size of input ``name`` along ``axis``, or None if symbolic/absent."""
        spec = self.inputs.get(name)
        if spec is None or axis >= len(spec.shape):
            return None
        value = spec.shape[axis]
        return value if isinstance(value, int) else None


@dataclass
class PipelineComponents:
    """Everything a pipeline needs from an exported folder; sessions not needed by a task stay None."""

    folder: Path
    tokenizer: CLIPTokenizer
    text_encoder: OnnxModel
    unet: OnnxModel
    vae_decoder: OnnxModel
    vae_encoder: OnnxModel | None
    scheduler: SchedulerConfigMixin
    provider: str = "CPUExecutionProvider"
    sess_options: ort.SessionOptions | None = None
    provider_options: dict | None = None
    graph_cache: Path | None = None
    # DeepCache's shallow UNet (loaded on first use) and what the UNet session's weights are: the file's with
    # these replacements (None: none), or a live graph with its fed buffers; the shallow UNet follows them
    unet_shallow: OnnxModel | None = None
    unet_weights: Mapping[str, np.ndarray] | tuple[bytes, dict[str, np.ndarray]] | None = None
    tiny_decoder: OnnxModel | None = None  # for live previews (tiny_vae_decoder)

    def reload(self, part: str, initializers: Mapping[str, np.ndarray] | None = None) -> None:
        """Replace (or load) the session of ``part`` ("unet", "text_encoder", "vae_encoder") by one whose
        weights ``initializers`` override (None: the file's own). Calls already running keep the session
        they started with."""
        model = OnnxModel.load(self.part_folder(part), self.provider, self.sess_options, self.provider_options, initializers,
                               self.graph_cache)
        setattr(self, part, model)
        if part == "unet":
            self.unet_shallow, self.unet_weights = None, initializers

    def reload_live(self, part: str, graph: bytes, feeds: dict[str, np.ndarray]) -> None:
        """Replace the session of ``part`` by one on a rewritten ``graph`` whose extra inputs ``feeds`` (owned
        buffers, updated in place) are passed on every run."""
        folder = self.part_folder(part)
        session = create_session_from_graph(graph, folder, self.provider, self.sess_options, self.provider_options)
        specs = {k: v for k, v in input_specs(session).items() if k not in feeds}
        setattr(self, part, OnnxModel(folder / MODEL_FILE, session, specs, output_specs(session), read_config(folder), feeds))
        if part == "unet":
            self.unet_shallow, self.unet_weights = None, (graph, feeds)

    def tiny_vae_decoder(self) -> OnnxModel | None:
        """The folder's tiny VAE decoder (``vae_decoder_tiny/``), loaded on first use; the pipeline's decoder when
        that is it already; None when the folder has none."""
        if self.vae_decoder.path.parent.name == TINY_VAE_DECODER:
            return self.vae_decoder
        if self.tiny_decoder is None:
            folder = part_folder(self.folder, TINY_VAE_DECODER)
            if not folder.is_dir():
                return None
            self.tiny_decoder = OnnxModel.load(folder, self.provider, self.sess_options, self.provider_options,
                                               cache_dir=self.graph_cache)
        return self.tiny_decoder

    def shallow_unet(self) -> OnnxModel:
        """DeepCache's shallow UNet (deep_cache/graphs.py), cut from the UNet graph the session runs and
        reading the same weights (a LoRA merged or fed live applies to it too). ValueError when the export
        has no ``deep_features`` output, saying how to get one."""
        if self.unet_shallow is not None:
            return self.unet_shallow
        import onnx

        from ortdiffusion.deep_cache import DEEP_FEATURES, shallow_graph

        folder = self.part_folder("unet")
        if DEEP_FEATURES not in self.unet.outputs:
            shipped = self.folder / "unet"  # the folder to mark, not its assembled copy in the cache
            raise ValueError(
                f"{self.folder} was exported without DeepCache's `{DEEP_FEATURES}` UNet output, which cache_interval "
                "needs: export it again with `ortdiffusion export MODEL OUT --deep-cache`, or mark this export in "
                f"place with ortdiffusion.deep_cache.add_deep_cache({str(shipped if shipped.is_dir() else folder)!r})"
            )
        if isinstance(self.unet_weights, tuple):
            graph, feeds = self.unet_weights
            proto, replaced = onnx.load_from_string(graph), None
        else:
            proto = onnx.load(str(folder / MODEL_FILE), load_external_data=False)
            feeds, replaced = {}, self.unet_weights
        shallow = shallow_graph(proto, str(folder / MODEL_FILE)).SerializeToString()
        session = create_session_from_graph(shallow, folder, self.provider, self.sess_options, self.provider_options,
                                            replaced)
        inputs = input_specs(session)
        extra = {k: v for k, v in feeds.items() if k in inputs}
        self.unet_shallow = OnnxModel(folder / MODEL_FILE, session, {k: v for k, v in inputs.items() if k not in extra},
                                      output_specs(session), read_config(folder), extra)
        return self.unet_shallow

    def part_folder(self, part: str) -> Path:
        """The folder of part ``part`` (see :func:`part_folder`)."""
        return part_folder(self.folder, part)

    @property
    def vae_config(self) -> dict[str, Any]:
        """The VAE's diffusers config (from vae_decoder/config.json)."""
        return self.vae_decoder.config

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent (2 ** (number of VAE blocks - 1), 8 for SD)."""
        blocks = self.vae_config.get("block_out_channels")
        return 2 ** ((len(blocks) if blocks else DIFFUSERS_VAE_BLOCKS) - 1)

    @property
    def scaling_factor(self) -> float:
        """The VAE latent scaling factor (``vae.config.scaling_factor``)."""
        return float(self.vae_config.get("scaling_factor", DIFFUSERS_VAE_SCALING_FACTOR))

    @property
    def latent_channels(self) -> int:
        """Channels of the VAE latents (from the decoder's input shape, else its config)."""
        dim = self.vae_decoder.static_dim("latent_sample", 1)
        return dim if dim is not None else int(self.vae_config.get("latent_channels", 4))

    @property
    def unet_in_channels(self) -> int:
        """Input channels of the UNet (4, or 9 for inpainting UNets)."""
        dim = self.unet.static_dim("sample", 1)
        return dim if dim is not None else int(self.unet.config.get("in_channels", 4))

    @property
    def default_sample_size(self) -> int:
        """The UNet's training resolution in latents (``unet.config.sample_size``)."""
        size = self.unet.config.get("sample_size")
        if size is None:
            logger.warning("%s has no sample_size; assuming SD 1.5's %d", self.unet.path.parent, SD15_SAMPLE_SIZE)
            return SD15_SAMPLE_SIZE
        return int(size[0] if isinstance(size, (list, tuple)) else size)

    @property
    def known_token_ids(self) -> frozenset[int] | None:
        """The tokens a vocabulary-pruned text encoder still tells apart (exporter/vocabulary.py), with the
        tokens added by textual inversion, or None when its vocabulary is whole."""
        pruned = self.text_encoder.config.get("_ortdiffusion_pruned_vocabulary")
        if not pruned:
            return None
        return frozenset(int(t) for t in pruned["kept_token_ids"]) | frozenset(self.tokenizer.added_tokens.values())

    @property
    def num_controlnets(self) -> int:
        """How many ControlNets are fused into the UNet graph (0 for a plain UNet)."""
        if "controlnet_cond" not in self.unet.inputs:
            return 0
        dim = self.unet.static_dim("controlnet_cond", 0)
        return dim if dim is not None else 1

    def make_scheduler(
        self, num_inference_steps: int, timesteps: Any = None, sigmas: Any = None
    ) -> tuple[SchedulerConfigMixin, int]:
        """A fresh copy of the pipeline's scheduler (one per call: multistep schedulers keep history, and
        pipelines are re-entrant) with its timesteps set, and the call's step count: diffusers'
        ``retrieve_timesteps`` (``num_inference_steps``, or custom ``timesteps`` or ``sigmas`` where the
        scheduler's ``set_timesteps`` takes them; ValueError naming the class where it does not)."""
        scheduler = type(self.scheduler).from_config(self.scheduler.config)
        if timesteps is not None and sigmas is not None:
            raise ValueError("Only one of `timesteps` or `sigmas` can be passed. Please choose one to set custom values")
        custom = next(((name, value) for name, value in (("timesteps", timesteps), ("sigmas", sigmas)) if value is not None), None)
        if custom is None:
            scheduler.set_timesteps(num_inference_steps)
            return scheduler, num_inference_steps
        name, value = custom
        if name not in inspect.signature(scheduler.set_timesteps).parameters:
            kind = "timestep" if name == "timesteps" else "sigmas"
            raise ValueError(
                f"The current scheduler class {type(scheduler).__name__}'s `set_timesteps` does not support custom "
                f"{kind} schedules. Please check whether you are using the correct scheduler."
            )
        scheduler.set_timesteps(**{name: value})
        return scheduler, len(scheduler.timesteps)


# vae_decoder argument -> the part that decodes
VAE_DECODERS = {"default": "vae_decoder", "tiny": TINY_VAE_DECODER}

# model_index.json key by which a folder without tokenizer/ asks for the CLIP tokenizer shipped in the package
SHIPPED_TOKENIZER_KEY = "_ortdiffusion_tokenizer"
SHIPPED_TOKENIZER = "shipped-clip-vit-l-14"


def _load_tokenizer(folder: Path) -> CLIPTokenizer:
    tokenizer = part_folder(folder, "tokenizer")
    if tokenizer.is_dir():
        return CLIPTokenizer.from_pretrained(tokenizer.parent, subfolder="tokenizer")
    if read_config(folder, "model_index.json").get(SHIPPED_TOKENIZER_KEY) == SHIPPED_TOKENIZER:
        return CLIPTokenizer.default()
    raise FileNotFoundError(f"{folder} has no tokenizer/ folder")


def warn_if_int8_saturates(folder: Path, provider: str) -> bool:
    """Log a warning, and return True, when ``folder`` is an int8 copy whose integer types ONNX Runtime's CPU
    kernels saturate on this machine: int8 weights at full range (what ``ortdiffusion quantize`` wrote before
    it recorded its types, and what ``Int8Types(reduce_range=False)`` asks for) on an x86 CPU without VNNI."""
    types = folder_int8_types(folder)
    if types is None or resolve_provider(provider) != "CPUExecutionProvider":
        return False
    full_range_int8 = types.get("weights") == "int8" and not types.get("reduce_range")
    if not full_range_int8 or _native.cpu_int8_dot_products() != "x86-saturating":
        return False
    logger.warning(
        "%s holds int8 weights at full range, which ONNX Runtime's integer kernels saturate on this CPU (x86 "
        "without VNNI): pictures lose detail (measured: the UNet's output 21-35 dB further from float32 than on a "
        "VNNI CPU, docs/precision.md). Convert the float32 export again with `ortdiffusion quantize`: its "
        "default types hold on every CPU", folder)
    return True


def load_components(
    path: str | Path,
    provider: str = "CPUExecutionProvider",
    sess_options: ort.SessionOptions | None = None,
    provider_options: dict | None = None,
    need_vae_encoder: bool = False,
    graph_cache: bool | str | os.PathLike = True,
    vae_decoder: str = "default",
) -> PipelineComponents:
    """Load an exported Stable Diffusion folder (ortdiffusion's or ``optimum-cli export onnx``'s).
    ``graph_cache``: True keeps ONNX Runtime's optimized graphs in the default cache folder
    (``$ORTDIFFUSION_CACHE_DIR`` or ``~/.cache/ortdiffusion/optimized``), a path puts them there, False
    turns the cache off (see session_cache.py). ``vae_decoder``: "default" (the model's) or "tiny" (the
    folder's ``vae_decoder_tiny/``, exporter/tiny_vae.py)."""
    if vae_decoder not in VAE_DECODERS:
        raise ValueError(f"vae_decoder must be one of {', '.join(VAE_DECODERS)}, got {vae_decoder!r}")
    folder = embedded_model_folder(path) or Path(path)
    if not folder.is_dir():
        raise FileNotFoundError(f"no exported pipeline folder at {str(folder)!r} (the embedded model's names: "
                                f"{', '.join(DEFAULT_MODEL_FOLDERS.values())})")
    cache_dir = default_cache_dir() if graph_cache is True else (Path(graph_cache) if graph_cache else None)

    def load(name: str) -> OnnxModel:
        return OnnxModel.load(part_folder(folder, name), provider, sess_options, provider_options, cache_dir=cache_dir)

    decoder_part = VAE_DECODERS[vae_decoder]
    if vae_decoder == "tiny" and not part_folder(folder, decoder_part).is_dir():
        raise FileNotFoundError(
            f"{folder} has no tiny VAE decoder ({decoder_part}/): add one from a diffusers AutoencoderTiny folder (TAESD) "
            "with `ortdiffusion export ... --tiny-vae DIR`, or ortdiffusion.exporter.tiny_vae.add_tiny_vae_decoder"
        )
    warn_if_int8_saturates(folder, provider)
    scheduler_folder = part_folder(folder, "scheduler")
    scheduler_config = read_config(scheduler_folder, "scheduler_config.json")
    if not scheduler_config:
        raise FileNotFoundError(f"missing {scheduler_folder / 'scheduler_config.json'}")
    return PipelineComponents(
        folder=folder,
        tokenizer=_load_tokenizer(folder),
        text_encoder=load("text_encoder"),
        unet=load("unet"),
        vae_decoder=load(decoder_part),
        vae_encoder=load("vae_encoder") if need_vae_encoder else None,
        scheduler=folder_scheduler(scheduler_config, scheduler_folder / "scheduler_config.json"),
        provider=provider,
        sess_options=sess_options,
        provider_options=provider_options,
        graph_cache=cache_dir,
    )
