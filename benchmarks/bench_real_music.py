"""The model on real music by artists it never heard, beside every baseline.

Run (opt-in: it reads Debian's game-soundtrack packages, never used by the tests or the
demo)::

    .venv/bin/python benchmarks/bench_real_music.py --work /tmp/mixer-real --minutes 15

1. builds the real corpus with ``benchmarks/real_corpus.py`` (or takes ``--corpus``);
2. splits it **by artist**: artists sorted by a stable hash of their name go to the test
   side until it holds ``--test-share`` of the songs, the rest train;
3. trains through the project's own ``mixer train`` on the train artists for
   ``--minutes`` (skipped with ``--model``, e.g. the demo's champion folder, to judge a
   model trained elsewhere), in its own state folder under ``--work``;
4. evaluates with ``mixer evaluate --json`` on the test artists (``--limit`` recipes,
   spread over them; the heuristic is fitted leave-one-artist-out) and, for the side by
   side, on ``--generated-artists`` freshly generated artists the model never heard;
5. prints one JSON document: the split, the training run, and both evaluations.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from real_corpus import DEFAULT_CACHE_DIRS, build_corpus  # noqa: E402

MIXER = str(Path(sys.executable).parent / "mixer")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for every output")
    parser.add_argument("--corpus", type=Path, default=None, help="an existing real corpus")
    parser.add_argument("--cache", type=Path, default=None, help="where the .deb files live")
    parser.add_argument("--test-share", type=float, default=0.35, help="songs held out")
    parser.add_argument("--minutes", type=float, default=15.0, help="training budget")
    parser.add_argument("--model", type=Path, default=None, help="evaluate this model folder")
    parser.add_argument("--limit", type=int, default=1200, help="test recipes (real music)")
    parser.add_argument("--generated-artists", type=int, default=4)
    parser.add_argument("--generated-limit", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1, help="seed of the evaluated recipes")
    parser.add_argument("--config", default=None, help="configuration file")
    return parser.parse_args()


def _hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def _groups(artists: list[str]) -> list[list[str]]:
    """Artist folders joined when they share a person: a collaboration's folder
    (``a_and_b``, as ``real_corpus`` names them) goes with each of its members."""
    members = {artist: set(artist.split("_and_")) for artist in artists}
    groups: list[tuple[set[str], list[str]]] = []
    for artist in sorted(artists):
        touching = [g for g in groups if g[0] & members[artist]]
        people, folders = set(members[artist]), [artist]
        for group in touching:
            groups.remove(group)
            people |= group[0]
            folders += group[1]
        groups.append((people, folders))
    return [sorted(folders) for _, folders in groups]


def split_by_artist(corpus: Path, test_share: float) -> tuple[list[str], list[str]]:
    """(train artists, test artists): test takes groups of artists (``_groups``) in the
    order of a stable hash until it holds ``test_share`` of the songs, so the split is
    stable, and no person is heard on both sides."""
    songs = {
        a.name: sum(1 for f in a.iterdir() if f.suffix == ".flac")
        for a in corpus.iterdir()
        if a.is_dir()
    }
    total = sum(songs.values())
    test: list[str] = []
    for group in sorted(_groups(list(songs)), key=lambda g: _hash(g[0])):
        if sum(songs[a] for a in test) >= test_share * total:
            break
        test += group
    return sorted(set(songs) - set(test)), sorted(test)


def _link_folder(corpus: Path, artists: list[str], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for artist in artists:
        link = folder / artist
        if not link.exists():
            link.symlink_to((corpus / artist).resolve(), target_is_directory=True)
    return folder


def _run(args: list[str], env: dict[str, str], log: Path) -> subprocess.CompletedProcess[str]:
    print(f"$ {' '.join(args)}", file=sys.stderr)
    with log.open("a") as stream:
        result = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=stream, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{args[1]} failed ({result.returncode}); see {log}")
    return result


def _evaluate(model: Path, data: Path, limit: int, seed: int, env, log, config) -> dict:
    """``mixer evaluate --json``'s report; every recipe's row goes beside the log, as CSV."""
    rows = log.parent / f"examples_{data.name}.csv"
    command = [MIXER, "evaluate", "--model", str(model), "--data_dir", str(data), "--json"]
    command += ["--limit", str(limit), "--seed", str(seed), "--examples", str(rows)]
    command += ["--config", config] if config else []
    started = time.monotonic()
    report = json.loads(_run(command, env, log).stdout)
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    return report


def main() -> int:
    args = _arguments()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log = work / "log.txt"
    corpus = args.corpus
    if corpus is None:
        cache = args.cache or next((d for d in DEFAULT_CACHE_DIRS if d.is_dir()), work / "debs")
        corpus = work / "corpus"
        build_corpus(corpus, cache)
    train_artists, test_artists = split_by_artist(corpus, args.test_share)
    train_dir = _link_folder(corpus, train_artists, work / "train_raw")
    test_dir = _link_folder(corpus, test_artists, work / "test_raw")
    env = {**os.environ, "MIXER_STATE_DIR": str(work / "state")}
    training: dict[str, object] = {"model": str(args.model) if args.model else None}
    model = args.model
    if model is None:
        command = [
            MIXER, "train", "--data_dir", str(train_dir), "--processed_dir",
            str(work / "processed"), "--dataset_file", str(work / "processed" / "dataset.parquet"),
            "--models_dir", str(work / "models"), "--max_minutes", str(args.minutes),
            "--num_epochs", "1000",
        ]  # fmt: skip
        command += ["--config", args.config] if args.config else []
        started = time.monotonic()
        _run(command, env, log)
        pointer = json.loads((work / "models" / "latest.json").read_text())
        model = Path(pointer["model_dir"])
        training = {**pointer, "minutes": args.minutes,
                    "elapsed_s": round(time.monotonic() - started, 1)}  # fmt: skip
    generated_dir = work / "generated_raw"
    if not generated_dir.is_dir():
        command = [MIXER, "generate-samples", "--out", str(generated_dir), "--artists",
                   str(args.generated_artists), "--songs", "3", "--seconds", "16",
                   "--seed", "90210"]  # fmt: skip
        _run(command, env, log)
    real = _evaluate(model, test_dir, args.limit, args.seed, env, log, args.config)
    generated = _evaluate(
        model, generated_dir, args.generated_limit, args.seed, env, log, args.config
    )
    print(
        json.dumps(
            {
                "split": {
                    "by": "artist",
                    "train_artists": train_artists,
                    "test_artists": test_artists,
                },
                "training": training,
                "real_music_held_out_artists": real,
                "generated_held_out_artists": generated,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
