"""The configuration loader under fuzzing: every failure is a ConfigError that says where.

Random YAML documents, wrong values, lists and unknown keys at the real key paths of
the shipped file, deleted keys, broken YAML syntax and arbitrary bytes all end in a
valid :class:`Config` or in :class:`ConfigError` whose message names the file and
either the key path(s) of the problem or the line and column; never a raw pydantic,
PyYAML or decoding error. ``mixer config --config FILE`` passes the same message on
with exit code 2 and no traceback.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mixer_core.config import DEFAULT_CONFIG_PATH, Config, ConfigError, load_config
from mixer_core.language.registry import REGISTRY
from pipelines.cli import main
from tests.strategies import yaml_keys, yaml_values

FUZZ = settings(max_examples=300, deadline=None)
# Edits of the shipped file: each example reads all of it with PyYAML's pure-Python
# reader (tens of ms), so fewer examples keep the default run fast.
FILE_FUZZ = settings(max_examples=100, deadline=None)
SHIPPED_TEXT = DEFAULT_CONFIG_PATH.read_text()
SHIPPED: dict[str, Any] = yaml.safe_load(SHIPPED_TEXT)
_WHERE = re.compile(r"at line (\d+), column (\d+)")
_FILE_LEVEL = ("no such configuration file", "is a directory", "expected a mapping of sections")
# Every name a key of `augmentation.tools` or of a tool's `params` could validly take.
_REGISTERED = set(REGISTRY) | {p.name for tool in REGISTRY.values() for p in tool.params}

Key = tuple[Any, ...]


def _paths(value: Any, prefix: Key = ()) -> Iterator[Key]:
    """Every key path of a loaded document, sections and leaves, list items included."""
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        yield (*prefix, key)
        if isinstance(item, dict | list):
            yield from _paths(item, (*prefix, key))


def _get(data: Any, path: Key) -> Any:
    for key in path:
        data = data[key]
    return data


def _dotted(path: Key) -> str:
    return ".".join(str(key) for key in path)


ALL_PATHS = sorted(_paths(SHIPPED), key=str)
FIXED_PATHS = [p for p in ALL_PATHS if "small" not in p]  # `small` takes any plain data
LEAVES = [p for p in FIXED_PATHS if not isinstance(_get(SHIPPED, p), dict)]
SECTIONS = [p for p in FIXED_PATHS if isinstance(_get(SHIPPED, p), dict)]
OPEN_SECTIONS = [(), *SECTIONS]  # the top level takes unknown keys too (and refuses them)


@contextlib.contextmanager
def written(content: bytes | str) -> Iterator[Path]:
    """``content`` as it is, in a fresh file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cfg.yaml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        yield path


def as_yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def load_or_error(path: Path, **kwargs: Any) -> Config | ConfigError:
    """``load_config(path)``, checked when it fails: the message starts with the file
    and names key paths, a line and column, or a whole-file problem. Any other
    exception escapes and fails the test."""
    try:
        return load_config(path, **kwargs)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ")
        if exc.problems:
            for key, problem in exc.problems:
                assert key and problem
                assert f"{key}: {problem}" in message
        else:
            assert _WHERE.search(message) or any(words in message for words in _FILE_LEVEL)
        return exc


def _keys(outcome: Config | ConfigError) -> set[str]:
    assert isinstance(outcome, ConfigError), "the edit should have been refused"
    return {key for key, _problem in outcome.problems}


def _related(key: str, edited: str) -> bool:
    """A problem at the edited key, inside it, or in a section holding it (a section's
    own rule, e.g. the split shares' sum, is reported at the section)."""
    return key == edited or key.startswith(edited + ".") or edited.startswith(key + ".")


@pytest.mark.reliability(
    case="random YAML document as the config (nested mappings, lists, scalars; fuzzed)",
    outcome="`ConfigError` naming the file and each top-level key at fault",
)
@FUZZ
@given(yaml_values(max_leaves=20))
def test_any_document_is_loaded_or_refused_by_key(document: Any) -> None:
    with written(as_yaml(document)) as path:
        outcome = load_or_error(path)
    if isinstance(document, dict) and isinstance(outcome, ConfigError):
        tops = {str(key) for key in document} | {"augmentation"}
        for key in _keys(outcome):
            assert any(key == top or key.startswith(top + ".") for top in tops), key
    elif document is not None:
        assert "expected a mapping of sections at the top level" in str(outcome)


@pytest.mark.reliability(
    case="any value at any real key path, or a real key deleted (fuzzed)",
    outcome="loaded, or `ConfigError` naming that key path (or the section whose rule it breaks)",
)
@FILE_FUZZ
@given(st.sampled_from(ALL_PATHS), yaml_values(), st.booleans())
def test_an_edit_at_a_key_is_refused_at_that_key(path: Key, value: Any, delete: bool) -> None:
    data = copy.deepcopy(SHIPPED)
    parent = _get(data, path[:-1])
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    with written(as_yaml(data)) as file:
        outcome = load_or_error(file)
    if isinstance(outcome, ConfigError):
        edited = _dotted(path)
        assert all(_related(key, edited) for key in _keys(outcome)), (edited, outcome)


@pytest.mark.reliability(
    case="a mapping where a value belongs, or a list where a section belongs (fuzzed)",
    outcome="`ConfigError` naming exactly that key path, e.g. `default.learning_rate`",
)
@FILE_FUZZ
@given(st.data())
def test_a_wrong_kind_of_value_is_refused_at_its_key(data: st.DataObject) -> None:
    if data.draw(st.booleans()):
        path = data.draw(st.sampled_from(LEAVES))
        value = data.draw(st.dictionaries(yaml_keys, yaml_values(4), min_size=1, max_size=3))
    else:
        path = data.draw(st.sampled_from(SECTIONS))
        value = data.draw(st.lists(yaml_values(4), max_size=3))
    document = copy.deepcopy(SHIPPED)
    _get(document, path[:-1])[path[-1]] = value
    with written(as_yaml(document)) as file:
        assert _keys(load_or_error(file)) == {_dotted(path)}


@pytest.mark.reliability(
    case="unknown key in any section, an unknown tool or parameter name (fuzzed names)",
    outcome="`ConfigError` naming the key path of the unknown key",
)
@FILE_FUZZ
@given(st.sampled_from(OPEN_SECTIONS), yaml_keys, yaml_values(4))
def test_an_unknown_key_is_refused_at_its_path(section: Key, key: str, value: Any) -> None:
    document = copy.deepcopy(SHIPPED)
    target = _get(document, section)
    if key in target or key in _REGISTERED:
        key = f"{key}_unknown"
    target[key] = value
    unknown = _dotted((*section, key))
    with written(as_yaml(document)) as file:
        keys = _keys(load_or_error(file))
    assert keys and all(k == unknown or k.startswith(unknown + ".") for k in keys), keys


@pytest.mark.reliability(
    case="the shipped config with YAML syntax broken by an inserted or dropped character (fuzzed)",
    outcome="loaded, or `ConfigError` naming the line and column (or the key path)",
)
@FILE_FUZZ
@given(
    st.integers(0, len(SHIPPED_TEXT)),
    st.sampled_from(list(":-[]{},#&*!|>'\"%@`?\t ")) | st.characters(codec="utf-8"),
    st.booleans(),
)
def test_broken_yaml_syntax_is_refused_at_a_line_and_column(at: int, char: str, drop: bool) -> None:
    text = SHIPPED_TEXT[:at] + ("" if drop else char) + SHIPPED_TEXT[at + drop :]
    with written(text) as file:
        outcome = load_or_error(file)
    where = _WHERE.search(str(outcome))
    if where:
        assert 1 <= int(where.group(1)) <= text.count("\n") + 2


@pytest.mark.reliability(
    case="arbitrary bytes as the config file (fuzzed), non-UTF-8 bytes in a valid file",
    outcome="`ConfigError`: 'not UTF-8 text at line L, column C', or as for any document",
)
@FUZZ
@given(st.binary(max_size=200), st.integers(0, len(SHIPPED_TEXT)), st.integers(0x80, 0xFF))
def test_bytes_that_are_not_utf8_are_refused_at_their_place(
    junk: bytes, at: int, byte: int
) -> None:
    with written(junk) as file:
        load_or_error(file)
    raw = SHIPPED_TEXT.encode()
    with written(raw[:at] + bytes([byte]) + raw[at:]) as file:
        outcome = load_or_error(file)
    before = SHIPPED_TEXT[:at]
    line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
    assert f"not UTF-8 text at line {line}, column {column} (byte 0x{byte:02X})" in str(outcome)


def _replace(old: str, new: str) -> str:
    assert SHIPPED_TEXT.count(old) >= 1, old
    return SHIPPED_TEXT.replace(old, new, 1)


def _line_of(fragment: str, text: str) -> int:
    return text[: text.index(fragment)].count("\n") + 1


_SEED_LINE = _line_of("  seed: 0\n", SHIPPED_TEXT)
_BATCH_LINE = _line_of("  batch_size: 8", SHIPPED_TEXT)
CASES = {
    "empty file": (b"", "augmentation: Field required"),
    "top level is a list": (b"- default\n- data\n", "top level, found list"),
    "top level is a number": (b"42\n", "top level, found int"),
    "top level is text": (b"just some words\n", "top level, found str"),
    "no augmentation section": (
        re.sub(r"\naugmentation:.*", "\n", SHIPPED_TEXT, flags=re.S),
        "augmentation: Field required",
    ),
    "a section is a list": (
        _replace("chain_length: {min: 1, max: 2}", "chain_length: [1, 2]"),
        "augmentation.chain_length: Input should be a valid dictionary",
    ),
    "a non-string key": (SHIPPED_TEXT + "1: 2\n", "1: Keys should be strings"),
    "tab indentation": (
        _replace("  batch_size: 8", "\tbatch_size: 8"),
        f"not valid YAML at line {_BATCH_LINE}, column 1: found character '\\t'",
    ),
    "an impossible date": (
        _replace("  seed: 0\n", "  seed: 2026-13-45\n"),
        f"at line {_SEED_LINE}, column 9: cannot read '2026-13-45' as timestamp",
    ),
    "a bad explicit tag": (
        _replace("  seed: 0\n", "  seed: !!int zero\n"),
        f"at line {_SEED_LINE}, column 9: cannot read 'zero' as int",
    ),
    "a python tag": (
        _replace("  seed: 0\n", "  seed: !!python/object/apply:os.system [ls]\n"),
        f"at line {_SEED_LINE}, column 9: could not determine a constructor",
    ),
    "a key written twice": (
        _replace("  seed: 0\n", "  seed: 0\n  seed: 1\n"),
        f"at line {_SEED_LINE + 1}, column 3: key 'seed' written twice (first at line "
        f"{_SEED_LINE})",
    ),
    "a NUL character": (
        _replace("  seed: 0\n", "  seed: \x00\n"),
        f"at line {_SEED_LINE}, column 9: character U+0000 is not allowed",
    ),
    "two YAML documents": (SHIPPED_TEXT + "---\nother: 1\n", "expected a single document"),
    "nesting 200 levels deep": (
        SHIPPED_TEXT + "deep: " + "[" * 200 + "]" * 200 + "\n",
        "nested more than 64 levels deep",
    ),
    "a latin-1 byte": (
        _replace("  seed: 0\n", "  seed: 0 # café\n").encode("latin-1"),
        f"not UTF-8 text at line {_SEED_LINE}, column {len('  seed: 0 # caf') + 1} (byte 0xE9)",
    ),
    "an alias inside its own anchor": (
        _replace(
            "      sliding_window: null", "      sliding_window: null\n      again: *s"
        ).replace("    small:                     # transformers.MistralConfig", "    small: &s #"),
        "mixer.decoder.small.again: refers to itself",
    ),
    "a number as a key in component kwargs": (
        _replace("      patch_stride: [4, 4]", "      patch_stride: {1: 4}"),
        "mixer.audio_encoder.small.patch_stride.1: keys must be strings",
    ),
    "binary data in component kwargs": (
        _replace("      sliding_window: null", "      sliding_window: !!binary /w=="),
        "mixer.decoder.small.sliding_window: bytes is not plain data",
    ),
}


@pytest.mark.reliability(
    case="empty file, non-mapping top level, missing section, tab indent, impossible date, "
    "bad or python tag, duplicate key, NUL, two documents, 200-deep nesting, latin-1 "
    "byte, self-referring alias, binary data or number keys in component kwargs (one "
    "test, parametrized)",
    outcome="`ConfigError` naming the file and the key path or line and column",
)
@pytest.mark.parametrize("case", sorted(CASES))
def test_known_bad_files_are_refused_with_where_and_what(case: str) -> None:
    content, expected = CASES[case]
    with written(content) as path:
        outcome = load_or_error(path)
    assert isinstance(outcome, ConfigError) and expected in str(outcome), str(outcome)


@pytest.mark.reliability(
    case="a directory, or a missing file, given as the config",
    outcome="`ConfigError`: 'is a directory' / 'no such configuration file'",
)
def test_a_directory_or_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(str(tmp_path))}: is a directory"):
        load_config(tmp_path)
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.reliability(
    case="a section written as a list while overrides (e.g. `--num_epochs`) are merged in",
    outcome="`ConfigError` naming the section, not a merge crash",
)
def test_overrides_on_a_section_that_is_not_a_mapping_name_it() -> None:
    document = {**SHIPPED, "default": [1, 2]}
    with written(as_yaml(document)) as path:
        outcome = load_or_error(path, overrides={"default": {"num_epochs": 2}})
    assert _keys(outcome) == {"default"}


def _mixer_config(path: Path) -> tuple[int, str]:
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        code = main(["config", "--config", str(path)])
    return code, stderr.getvalue()


@pytest.mark.reliability(
    case="`mixer config --config FILE` with a wrong value at a real key (fuzzed)",
    outcome="exit 2, 'configuration error: FILE: key.path: problem' on stderr; no traceback",
)
@settings(max_examples=30, deadline=None)
@given(st.sampled_from(LEAVES), st.dictionaries(yaml_keys, yaml_values(4), min_size=1))
def test_mixer_config_exits_2_naming_the_file_and_key(path: Key, value: Any) -> None:
    document = copy.deepcopy(SHIPPED)
    _get(document, path[:-1])[path[-1]] = value
    with written(as_yaml(document)) as file:
        code, stderr = _mixer_config(file)
    assert code == 2 and "Traceback" not in stderr
    assert stderr.startswith(f"mixer config: configuration error: {file}: {_dotted(path)}: ")


@pytest.mark.reliability(
    case="`mixer config --config FILE`: broken YAML, non-UTF-8 bytes, a list, a directory "
    "(one test, parametrized)",
    outcome="exit 2, 'configuration error: FILE: ...' with the line and column or the "
    "problem; no traceback",
)
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"default: [unclosed\n", "not valid YAML at line 2, column 1"),
        (b"\xff\xfe", "not UTF-8 text at line 1, column 1 (byte 0xFF)"),
        (b"- 1\n", "expected a mapping of sections at the top level, found list"),
        (None, "is a directory, not a configuration file"),
    ],
)
def test_mixer_config_exits_2_on_an_unreadable_file(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    file = tmp_path
    if content is not None:
        file = tmp_path / "bad.yaml"
        file.write_bytes(content)
    code, stderr = _mixer_config(file)
    assert code == 2 and "Traceback" not in stderr
    assert stderr.startswith(f"mixer config: configuration error: {file}: {expected}")


def test_mixer_config_accepts_the_shipped_file() -> None:
    code, stderr = _mixer_config(DEFAULT_CONFIG_PATH)
    assert code == 0 and stderr == ""
