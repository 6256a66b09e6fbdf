"""The configuration schema for ``config/mixer_config.yaml``.

Pydantic models with ``extra="forbid"`` so that a typo is an error, and every field
carries a description, which is the key's documentation (``mixer config --docs``
prints them). ``load_config`` reports every problem as a :class:`ConfigError` naming
the file and the key path, e.g. ``augmentation.tools.apply_eq.params.low_gain``, or
the line and column for a file that is not YAML at all: a user never sees a raw
pydantic, PyYAML or decoding error.

The module is over 400 lines because it is the one schema: every section with its
keys and their documentation side by side, and the reader that names their paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mixer_core.language.registry import REGISTRY

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "config" / "mixer_config.yaml"


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message names the file and key path.

    ``problems`` holds each ``(key path, problem)`` found, so callers and tests can
    read where a problem is without parsing the message.
    """

    def __init__(self, message: str, problems: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class KeyProblem(ValueError):
    """Raised by a validator about a key below the one it validates (``tools.warp``).

    Pydantic places a validator's error at the validated model or field; ``key`` is
    the rest of the path, which :func:`parse_config` appends so the message names it.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def _check_plain(value: Any, key: str, inside: tuple[int, ...]) -> None:
    if isinstance(value, dict | list):
        if id(value) in inside:
            raise KeyProblem(key, "refers to itself (a YAML alias inside its own anchor)")
        inside = (*inside, id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for name, item in items:
            if isinstance(value, dict) and not isinstance(name, str):
                raise KeyProblem(f"{key}.{name}", "keys must be strings")
            _check_plain(item, f"{key}.{name}", inside)
    elif value is not None and not isinstance(value, bool | int | float | str):
        raise KeyProblem(
            key,
            f"{type(value).__name__} is not plain data (use numbers, strings, true/false, "
            "null, lists and mappings)",
        )


def _plain_kwargs(value: Any) -> Any:
    """Component keyword arguments are saved with a model as JSON, so only JSON's
    kinds of value are accepted: a YAML date, ``!!binary`` or a self-referring alias
    would pass loading and fail when the trained model is written, hours later.
    Runs before pydantic copies the mapping, so an alias back to it is still seen."""
    if isinstance(value, dict):
        for name, item in value.items():
            _check_plain(item, str(name), (id(value),))
    return value


PlainKwargs = Annotated[dict[str, Any], BeforeValidator(_plain_kwargs)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _f(default: Any, description: str, **kwargs: Any) -> Any:
    return Field(default, description=description, **kwargs)


class TrainingConfig(_Section):
    batch_size: int = _f(8, "examples per optimizer micro-batch", gt=0)
    learning_rate: float = _f(3e-4, "peak learning rate (AdamW)", gt=0)
    weight_decay: float = _f(0.01, "AdamW weight decay", ge=0)
    num_epochs: int = _f(3, "passes over the training recipes", gt=0)
    max_steps: int | None = _f(
        None, "stop after this many optimizer steps (overrides epochs)", gt=0
    )
    max_minutes: float | None = _f(None, "stop training after this wall-clock budget", gt=0)
    gradient_accumulation_steps: int = _f(1, "micro-batches per optimizer step", gt=0)
    warmup_steps: int = _f(20, "linear warm-up steps before cosine decay", ge=0)
    lr_schedule: Literal["cosine", "linear", "constant"] = _f("cosine", "decay after warm-up")
    min_lr_ratio: float = _f(0.1, "final learning rate as a fraction of the peak", ge=0, le=1)
    max_grad_norm: float = _f(1.0, "gradient clipping norm (0 disables)", ge=0)
    mixed_precision: Literal["no", "fp16", "bf16"] = _f(
        "no", "autocast dtype on CUDA; ignored on CPU"
    )
    seed: int = _f(0, "seed for weights, data order and on-the-fly augmentation")
    device: str = _f("auto", "'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'")
    eval_every_steps: int = _f(50, "validation loss every N optimizer steps", gt=0)
    val_batches: int = _f(4, "validation batches per evaluation", gt=0)
    keep_best: bool = _f(
        True,
        "end with the weights of the lowest validation loss (kept beside the checkpoint), "
        "not the last step's: a long budget on a small corpus overfits",
    )
    checkpoint_every_steps: int = _f(100, "write a resumable checkpoint every N steps", gt=0)
    log_every_steps: int = _f(5, "report loss/lr/grad-norm every N steps", gt=0)
    nan_guard_max_consecutive: int = _f(
        5, "skipped non-finite steps in a row before training stops with an error", gt=0
    )
    num_workers: int = _f(0, "DataLoader worker processes", ge=0)
    input_cache_mb: int = _f(
        1024,
        "memory (MiB) for rendered encoder inputs kept per recipe, so each recipe is rendered "
        "once per run; held on the training device (GPU memory on a GPU); 0 renders every step",
        ge=0,
    )
    retrain_cron: str = _f(
        "0 3 * * 1",
        "cron of the weekly_retrain schedule (5 fields: minute hour day month weekday); "
        "env MIXER_RETRAIN_CRON overrides it",
    )

    @field_validator("retrain_cron")
    @classmethod
    def _cron_has_five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(
                f"{value!r} must have 5 fields (minute hour day-of-month month "
                "day-of-week), e.g. '0 3 * * 1'"
            )
        return value


class SplitConfig(_Section):
    train: float = _f(0.8, "share of songs (or artists) in the training split", ge=0, le=1)
    val: float = _f(0.1, "share of songs (or artists) in the validation split", ge=0, le=1)
    test: float = _f(0.1, "share of songs (or artists) in the test split", ge=0, le=1)
    by: Literal["auto", "song", "artist"] = _f(
        "auto",
        "unit a split is assigned per: song, artist (music the model never heard), or auto: "
        "by artist once the corpus has auto_artists artists, by song before",
    )
    auto_artists: int = _f(8, "artists from which 'auto' splits by artist", ge=2)
    min_test_songs: int = _f(
        6, "the test split holds at least this many songs (the nearest units join it)", ge=1
    )
    min_test_artists: int = _f(2, "the test split holds songs of at least this many artists", ge=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        if abs(self.train + self.val + self.test - 1.0) > 1e-6:
            raise ValueError("train + val + test must sum to 1")
        return self


class DataConfig(_Section):
    sample_rate: int = _f(22050, "rate songs are resampled to before segmenting (Hz)", ge=8000)
    channels: Literal[1, 2] = _f(2, "1 = downmix to mono, 2 = stereo (mono songs are duplicated)")
    segment_seconds: float = _f(4.0, "segment length (s)", gt=0)
    hop_seconds: float = _f(4.0, "distance between segment starts (s)", gt=0)
    silence_threshold_db: float = _f(
        -50.0, "segments whose RMS is below this level (dBFS) are dropped", le=0
    )
    reference_lufs: float = _f(
        -20.0,
        "integrated loudness the clean reference of a 'fix' recipe is normalised to",
        le=0,
    )
    split: SplitConfig = _f(
        SplitConfig(), "train/val/test shares, assigned per song or per artist (split.by)"
    )
    max_segments_per_song: int | None = _f(
        None, "keep at most this many segments per song (evenly spaced)", gt=0
    )


class TextEncoderConfig(_Section):
    path: str | None = _f(
        None, "local Hugging Face folder of a BERT-family encoder; null = the bundled MiniLM"
    )
    max_length: int = _f(64, "prompt tokens kept", gt=0)


class AudioEncoderConfig(_Section):
    path: str | None = _f(
        None, "local folder of a CLAP checkpoint (ClapModel or ClapAudioModel); null = small"
    )
    small: PlainKwargs = _f(
        {
            "num_mel_bins": 64,
            "spec_size": 128,
            "patch_size": 4,
            "patch_stride": [4, 4],
            "patch_embeds_hidden_size": 32,
            "hidden_size": 256,
            "depths": [1, 1, 1, 1],
            "num_attention_heads": [2, 2, 4, 4],
            "window_size": 4,
            "projection_dim": 128,
        },
        "ClapAudioConfig keyword arguments for the small encoder built from scratch",
    )
    max_seconds: float = _f(4.0, "audio seen by the encoder per example (s)", gt=0)


class DecoderConfig(_Section):
    path: str | None = _f(
        None, "local folder of a Mistral-family causal LM with its tokenizer; null = small"
    )
    small: PlainKwargs = _f(
        {
            "hidden_size": 256,
            "intermediate_size": 512,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 512,
            "sliding_window": None,
        },
        "MistralConfig keyword arguments for the small decoder built from scratch",
    )
    max_target_tokens: int = _f(160, "longest target program, in decoder tokens", gt=0)


class LoraConfig(_Section):
    r: int = _f(16, "LoRA rank", gt=0)
    alpha: int = _f(32, "LoRA scaling numerator (scale = alpha / r)", gt=0)
    dropout: float = _f(0.05, "dropout on the LoRA branch", ge=0, lt=1)
    target_modules: list[str] = _f(
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        "decoder modules that receive LoRA adapters",
    )


class FusionConfig(_Section):
    prefix_tokens: int = _f(8, "decoder prefix embeddings produced from text + audio", gt=0)
    hidden_size: int = _f(256, "width of the fusion MLP", gt=0)
    dropout: float = _f(0.1, "dropout inside the fusion MLP", ge=0, lt=1)
    level_features: bool = _f(
        True, "feed absolute level features (LUFS, mean log-mel bands) beside the encoders"
    )


class ValueHeadConfig(_Section):
    enabled: bool = _f(
        True,
        "regress each numeric argument with the value head (from the decoder state, level "
        "features and prompt numbers) instead of decoding its digits",
    )
    hidden_size: int = _f(256, "width of the value head", gt=0)
    dropout: float = _f(0.0, "dropout inside the value head", ge=0, lt=1)
    loss_weight: float = _f(
        1.0, "weight of the value loss (likelihood + pointer) beside the token cross-entropy", ge=0
    )
    pointer_weight: float = _f(
        1.0, "weight of the pointer's cross-entropy (which stated number a slot copies)", ge=0
    )


class TrainableConfig(_Section):
    text_encoder: bool = _f(False, "fine-tune the text encoder (else frozen)")
    audio_encoder: bool = _f(True, "train the audio encoder (always true for a small one)")
    fusion: bool = _f(True, "train the fusion module")
    decoder_base: bool = _f(
        True, "train the small decoder's base weights (a pretrained decoder trains LoRA only)"
    )


class GenerationConfig(_Section):
    max_new_tokens: int = _f(160, "longest program the model may write, in tokens", gt=0)


class MixerConfig(_Section):
    text_encoder: TextEncoderConfig = _f(TextEncoderConfig(), "prompt encoder")
    audio_encoder: AudioEncoderConfig = _f(AudioEncoderConfig(), "audio encoder")
    decoder: DecoderConfig = _f(DecoderConfig(), "instruction decoder")
    lora: LoraConfig = _f(LoraConfig(), "LoRA adapters on the decoder")
    fusion: FusionConfig = _f(FusionConfig(), "text + audio -> prefix embeddings")
    value_head: ValueHeadConfig = _f(ValueHeadConfig(), "numeric arguments by regression")
    trainable: TrainableConfig = _f(TrainableConfig(), "which parts train, which are frozen")
    generation: GenerationConfig = _f(GenerationConfig(), "constrained decoding")


class GeneratorConfig(_Section):
    sample_rate: int = _f(22050, "rate of generated songs (Hz)", ge=8000)
    artists: int = _f(4, "artists generated by default", gt=0)
    songs_per_artist: int = _f(3, "songs per artist", gt=0)
    seconds: float = _f(20.0, "length of each song (s)", gt=0)
    seed: int = _f(0, "seed: the same seed writes byte-identical files")
    tempo_bpm: tuple[float, float] = _f((80.0, 150.0), "range songs draw their tempo from")
    stereo: bool = _f(True, "write stereo files (instruments panned) instead of mono")


ParamRange = Annotated[tuple[float, float], Field(description="[low, high] sampled uniformly")]


class ToolAugmentation(_Section):
    probability: float = _f(0.0, "chance this tool is drawn into a chain", ge=0, le=1)
    params: dict[str, ParamRange] = _f(
        {}, "ranges for this tool's parameters; omitted parameters keep their default"
    )


class ChainLength(_Section):
    min: int = _f(1, "fewest distortions in a chain", ge=0)
    max: int = _f(2, "most distortions in a chain", ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> ChainLength:
        if self.min > self.max:
            raise ValueError("min must not exceed max")
        return self


class AugmentationConfig(_Section):
    recipes_per_segment: int = _f(4, "recipes sampled for each segment", gt=0)
    seed: int = _f(0, "base seed; each recipe's seed derives from it and the segment id")
    fix_ratio: float = _f(0.7, "share of 'fix' recipes (the rest are 'instruct')", ge=0, le=1)
    chain_length: ChainLength = _f(ChainLength(), "distortions per recipe")
    named_problem_ratio: float = _f(
        0.5,
        "share of fix prompts that name the problem instead of a generic request",
        ge=0,
        le=1,
    )
    identity_ratio: float = _f(
        0.1,
        "share of fix recipes whose input is already clean (the target corrects nothing)",
        ge=0,
        le=1,
    )
    subtle_ratio: float = _f(
        0.1,
        "share of fix recipes whose distortion is scaled below audibility (subtle_scale)",
        ge=0,
        le=1,
    )
    subtle_scale: float = _f(
        0.15,
        "a subtle distortion's distance from each default, as a share of the drawn one",
        gt=0,
        le=1,
    )
    tools: dict[str, ToolAugmentation] = _f(
        {}, "per-tool probability and parameter ranges, keyed by registry tool name"
    )

    @model_validator(mode="after")
    def _tools_in_registry(self) -> AugmentationConfig:
        if self.identity_ratio + self.subtle_ratio > 1:
            raise ValueError("identity_ratio + subtle_ratio must not exceed 1")
        for name, spec in self.tools.items():
            tool = REGISTRY.get(name)
            if tool is None:
                raise KeyProblem(f"tools.{name}", f"unknown tool (known: {', '.join(REGISTRY)})")
            for pname, (low, high) in spec.params.items():
                param = tool.param(pname)
                if param is None:
                    raise KeyProblem(f"tools.{name}.params.{pname}", "unknown parameter")
                if not (param.low <= low <= high <= param.high):
                    raise KeyProblem(
                        f"tools.{name}.params.{pname}",
                        f"[{low}, {high}] must be ordered and inside the tool's range "
                        f"[{param.low}, {param.high}]",
                    )
        if not any(spec.probability > 0 for spec in self.tools.values()):
            raise KeyProblem("tools", "at least one tool needs a probability above 0")
        return self


class Config(_Section):
    default: TrainingConfig = _f(TrainingConfig(), "training loop")
    data: DataConfig = _f(DataConfig(), "segmenting and splits")
    mixer: MixerConfig = _f(MixerConfig(), "the model")
    generators: GeneratorConfig = _f(GeneratorConfig(), "the sample-audio generator")
    augmentation: AugmentationConfig = _f(..., "on-the-fly distortions and prompts")


def _problem(error: Any) -> tuple[str, str]:
    """(key path, message) of one pydantic error, with a validator's own words."""
    path = [str(part) for part in error["loc"] if not str(part).startswith("function-")]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, KeyProblem):
        return ".".join([*path, cause.key]), cause.problem
    message = str(cause) if isinstance(cause, ValueError) else error["msg"]
    return ".".join(path) or "(top level)", message


def parse_config(data: dict[str, Any], source: str = "<config>") -> Config:
    """Validate already-read sections; problems become one :class:`ConfigError`."""
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors()]
        text = "; ".join(f"{key}: {message}" for key, message in problems)
        raise ConfigError(f"{source}: {text}", problems) from None


_MAX_DEPTH = 64


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with every failure placed at a line and column.

    Its constructors raise bare ``ValueError``/``KeyError``/... for values the resolver
    or an explicit tag let through (``2020-13-01`` read as a date, ``!!int x``), its
    composer recurses until Python's stack runs out on deep nesting, and it keeps the
    last of two equal keys without a word, which hides a typo's twin.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > _MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {_MAX_DEPTH} levels deep",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            kind = node.tag.rsplit(":", 1)[-1]
            value = f" {node.value!r}" if isinstance(node, yaml.ScalarNode) else ""
            reason = f" ({exc})" if type(exc) is ValueError else ""
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read{value} as {kind}{reason}", node.start_mark
            ) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        first: dict[str, yaml.Mark] = {}
        for key_node, _value in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:str":
                if key_node.value in first:
                    line = first[key_node.value].line + 1
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key_node.value!r} written twice (first at line {line})",
                        key_node.start_mark,
                    )
                first[key_node.value] = key_node.start_mark
        return super().construct_mapping(node, deep)


def _line_column(before: str) -> str:
    """Where the character after the text ``before`` sits, as editors count."""
    lines = before.split("\n")
    return f"line {len(lines)}, column {len(lines[-1]) + 1}"


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "unreadable"
        context = f" ({exc.context})" if exc.problem and exc.context else ""
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"not valid YAML{where}: {problem}{context}"
    if isinstance(exc, yaml.reader.ReaderError):
        return (
            f"not valid YAML at {_line_column(text[: exc.position])}: character "
            f"U+{exc.character:04X} is not allowed ({exc.reason})"
        )
    return f"not valid YAML: {exc}"


def _read(path: Path) -> Any:
    """The YAML document at ``path``; every way of failing is a :class:`ConfigError`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text at {_line_column(raw[: exc.start].decode('utf-8'))} "
            f"(byte 0x{raw[exc.start]:02X})"
        ) from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {_yaml_problem(exc, text)}") from None


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a YAML config; ``overrides`` are merged per section first.

    A section the file writes as something other than a mapping is left as it is, so
    validation names it instead of the merge failing.
    """
    path = Path(path) if path else DEFAULT_CONFIG_PATH
    data = _read(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a mapping of sections at the top level, found {type(data).__name__}"
        )
    for section, values in (overrides or {}).items():
        current = data.get(section)
        if current is None or isinstance(current, dict):
            data[section] = {**(current or {}), **values}
    return parse_config(data, str(path))


def config_docs() -> list[tuple[str, str, str]]:
    """(key path, default, description) for every key, in schema order."""
    rows: list[tuple[str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            key = f"{prefix}{name}"
            annotation = info.annotation
            default = "required" if info.is_required() else repr(info.default)
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                rows.append((key, "", info.description or ""))
                walk(annotation, key + ".")
            else:
                rows.append((key, default, info.description or ""))

    walk(Config, "")
    return rows
