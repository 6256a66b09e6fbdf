"""Build a corpus of real music, by artist, from Debian's game-soundtrack packages.

Why it exists: the model is trained and tested on generated songs. To see whether it
generalises we judge it on music nobody here made, split **by artist** — with few artists a
split by song lets a model memorise each artist's sound and flatters it. Debian ships free
game soundtracks whose authors are recorded in the packages, so this module turns them into
``<out>/<artist>/<song>.flac`` excerpts (16-bit) plus ``<out>/corpus.json``, which records
for every song its artist, source package and file, licence, duration and excerpt offsets.

Opt-in, for benchmarks only: default tests and the demo never use it. The audio is never
committed; it is rebuilt from the packages wherever it is needed. Licences are free but not
uniform — CC-BY-SA-3.0/4.0, CC-BY-4.0, GPL-2+/3+, some dual — and recorded per song in
corpus.json (from the track's own licence tag, else its album's licence file, else the
package's copyright file). CC-BY requires attribution, which is why every song keeps its
credit; share-alike and GPL terms bind anything redistributed that contains the excerpts.

Where the credits are (found by unpacking each package):

- ``nexuiz-music``: ARTIST tags of the Ogg files inside ``music.pk3`` (a zip);
- ``supertuxkart-data``: ``composer`` of each ``.music`` XML file;
- ``warzone2100-music``: ``author`` of each track in each album's ``album.json``;
- ``hyperrogue-music``: the copyright file's stanza for each file;
- ``singularity-music``, ``supertux-data``: ARTIST tags.

A track without a credit of its own is skipped (and listed in corpus.json), except that a
package that credits no track at all falls back to the one author its copyright file names,
noted in the manifest. Names become lowercase ASCII with underscores; a person's pseudonyms
and spellings are merged across packages; a collaboration is one folder naming everyone.
libsndfile decodes Vorbis and Opus, so no ffmpeg is needed. Re-running resumes: songs whose
files exist are not decoded again.

The module is over 400 lines because each package keeps its credits in its own format and
the parsers, the copyright/licence reading and the resumable builder are one opt-in tool,
kept in one file outside the pipeline's packages.

    .venv/bin/python benchmarks/real_corpus.py --out data/real_music --cache ~/.cache/mixer/debs
"""

from __future__ import annotations

import argparse
import fnmatch
import html
import json
import os
import re
import shutil
import subprocess
import sys
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import numpy as np
import soundfile as sf
from tqdm import tqdm

# The one place this module touches mixer_core (its layout is being reorganised).
from mixer_core.audio.io import resample, write_audio

PACKAGES: tuple[str, ...] = (
    "nexuiz-music",
    "supertuxkart-data",
    "warzone2100-music",
    "singularity-music",
    "hyperrogue-music",
    "supertux-data",
)
DEFAULT_CACHE_DIRS: tuple[Path, ...] = (Path("~/.cache/mixer/debs").expanduser(),)
MANIFEST_NAME = "corpus.json"
UNPACK_MARKER = ".unpacked-from"
EDGE_FRACTION = 0.1
DOWNLOAD_TIMEOUT_S = 1800.0
UNPACK_TIMEOUT_S = 900.0

_AUDIO_SUFFIXES = (".ogg", ".opus")
_NO_CREDIT = "no ARTIST tag, no credit in the music metadata, no copyright stanza for this file"
_DECODE_ERRORS = (sf.SoundFileError, RuntimeError, ValueError)

# One person under several names, each seen in these packages; the value is the name the
# package's copyright file or credits use.
_ALIASES: dict[str, str] = {
    "0zone0ne": "ozoneone",  # supertuxkart: 0zone0ne, Ozoneone, OzoneOne
    "krobonil": "chris_leutwyler",  # supertuxkart: "Chris Leutwyler (Krobonil)"
    "elysis": "gerd_raudenbusch",  # nexuiz: "Gerd (elysis) Raudenbusch", "www.elysis.de"
    "maxstack": "max_mccracken",  # singularity: tags "Maxstack", copyright "Max McCracken"
    "wansti": "marek_moeckel",  # supertux: tags "Wansti", credits 'Marek "Wansti" Moeckel'
}
# Credits that name no composer (supertuxkart's xeon6.ogg was "commissioned by Bart Kelsey").
_UNCREDITED: frozenset[str] = frozenset({"http://opengameart.org, from bart"})
_TRANSLITERATE = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "ł": "l"})


class PackageError(RuntimeError):
    """A package that cannot be fetched, unpacked or read; the message names it."""

    def __init__(self, package: str, problem: str) -> None:
        self.package = package
        self.problem = problem
        super().__init__(f"{package}: {problem}")


# ---------------------------------------------------------------- names


def slugify(text: str) -> str:
    """Lowercase ASCII with underscores: safe as a folder name on every filesystem."""
    ascii_text = unicodedata.normalize("NFKD", text.translate(_TRANSLITERATE))
    ascii_text = ascii_text.encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")


def credit_artists(credit: str) -> list[str]:
    """Canonical artist names in a credit string, sorted; empty when it names no composer.

    Credits come as packages write them: nicknames in brackets, "aka" notes, e-mail or web
    addresses, leading copyright years, several people joined by "&", "and" or commas.
    """
    text = " ".join(credit.split())
    if text.casefold() in _UNCREDITED:
        return []
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"\([^)]*\)", " ", text)
    text = re.sub(r"\s+aka\s+.*$", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^\s*\d{4}(?:\s*[-,]\s*\d{4})*,?\s+", "", text)
    names: set[str] = set()
    for part in re.split(r"\s*(?:&|,|;|\band\b)\s*", text):
        site = re.fullmatch(r"(?:https?://)?www\.([\w-]+)\.\S+|https?://([\w-]+)\.\S+", part)
        if site:
            part = site.group(1) or site.group(2)
        slug = slugify(part)
        if slug:
            names.add(_ALIASES.get(slug, slug))
    return sorted(names)


def artist_folder(credit: str) -> str | None:
    """The folder for a credit: one artist, or every collaborator joined by ``_and_``."""
    names = credit_artists(credit)
    return "_and_".join(names) if names else None


# ---------------------------------------------------------------- excerpts


def excerpt_offsets(
    duration_s: float, excerpt_s: float, count: int = 1, edge_fraction: float = EDGE_FRACTION
) -> list[float]:
    """Start times of ``count`` excerpts spread over the middle of a track.

    Intros and outros (the first and last ``edge_fraction``) are often silence, fades or
    loops; the middle is where a track sounds like itself. The middle is cut into ``count``
    equal slots with one excerpt centred in each, so excerpts never overlap. Empty when the
    middle is too short to hold them.
    """
    if excerpt_s <= 0 or count < 1:
        raise ValueError(f"need excerpt_s > 0 and count >= 1, got {excerpt_s}, {count}")
    if not 0 <= edge_fraction < 0.5:
        raise ValueError(f"edge_fraction must be in [0, 0.5), got {edge_fraction}")
    start = duration_s * edge_fraction
    slot = duration_s * (1 - 2 * edge_fraction) / count
    if slot < excerpt_s:
        return []
    return [start + i * slot + (slot - excerpt_s) / 2 for i in range(count)]


def _read_excerpt(path: Path, start_s: float, seconds: float) -> tuple[np.ndarray, int]:
    """Decode only the excerpt (seeking is sample-exact for Vorbis and Opus)."""
    with sf.SoundFile(str(path)) as handle:
        rate = handle.samplerate
        wanted = round(seconds * rate)
        handle.seek(round(start_s * rate))
        frames = handle.read(wanted, dtype="float32", always_2d=True)
    if frames.shape[0] != wanted:
        raise ValueError(f"{path}: decoded {frames.shape[0]} of {wanted} frames")
    return np.ascontiguousarray(frames.T), rate


# ---------------------------------------------------------------- licences and copyright


_CC_TOKEN = re.compile(
    r"\b(?:CC[- ])?(BY(?:-NC)?(?:-SA|-ND)?)[- ](\d\.\d)\b"
    r"(\s*\((?:or,?\s*)?(?:at your (?:option|discretion),?\s*)?any later version\))?"
)
_CC_URL = re.compile(r"creativecommons\.org/licenses/([a-z-]+)/(\d\.\d)")
_GPL = re.compile(
    r"GNU (Lesser |Library )?General Public License,?"
    r"(?: as published by the Free Software Foundation;?)?(?: either)?,? [Vv]ersion (\d)"
    r"(?: of the License)?(,? or (?:\(at your option\) )?(?:any )?later)?"
)


def licence_from_text(text: str) -> str | None:
    """SPDX-style licence ids named in free text, joined by " OR "; None when none is.

    Handles what these packages write: "CC-BY-SA-3.0 (or ... any later version)",
    "BY-SA 3.0", Creative Commons URLs in tags, and the GPL's own wording.
    """
    text = " ".join(text.split())
    found: list[tuple[int, str]] = []
    for match in _CC_TOKEN.finditer(text):
        found.append((match.start(), f"CC-{match[1]}-{match[2]}{'+' if match[3] else ''}"))
    for match in _CC_URL.finditer(text):
        found.append((match.start(), f"CC-{match[1].upper()}-{match[2]}"))
    for match in _GPL.finditer(text):
        name = "LGPL" if match[1] else "GPL"
        found.append((match.start(), f"{name}-{match[2]}{'+' if match[3] else ''}"))
    ids = list(dict.fromkeys(name for _, name in sorted(found)))
    return " OR ".join(ids) if ids else None


@dataclass(frozen=True)
class CopyrightStanza:
    """One ``Files:`` paragraph of a machine-readable (DEP-5) copyright file."""

    patterns: tuple[str, ...]
    holders: tuple[str, ...]
    licence: str


@dataclass(frozen=True)
class CopyrightFile:
    """A package's ``usr/share/doc/<package>/copyright``: DEP-5 stanzas, or free text."""

    text: str
    stanzas: tuple[CopyrightStanza, ...]

    def match(self, rel_path: str) -> tuple[CopyrightStanza, str] | None:
        """The stanza that governs a file (the last match, as DEP-5 says) and its pattern.

        Patterns are relative to the upstream source tree while the file's path is where
        the package installs it, so a pattern may match any trailing part of the path, and
        an upstream ``data/`` folder may be installed under another name (supertux's
        ``data/music/`` is ``usr/share/games/supertux2/music/``).
        """
        parts = PurePosixPath(rel_path).parts
        tails = ["/".join(parts[i:]) for i in range(len(parts))]
        found = None
        for stanza in self.stanzas:
            for pattern in stanza.patterns:
                variants = (pattern, pattern.removeprefix("data/"))
                if any(fnmatch.fnmatchcase(t, v) for t in tails for v in variants):
                    found = (stanza, pattern)
                    break
        return found

    def sole_author(self, rel_paths: Sequence[str]) -> str | None:
        """The one author credited for all of these files, or None when not exactly one."""
        if not self.stanzas:
            block = re.search(r"Upstream Authors?:[ \t]*\n((?:[ \t]+\S.*(?:\n|$))+)", self.text)
            names = [line.strip() for line in block[1].splitlines()] if block else []
            return names[0] if len(names) == 1 else None
        matches = {self.match(path) for path in rel_paths}
        if len(matches) != 1 or None in matches:
            return None
        stanza, _pattern = next(iter(matches))
        return stanza.holders[0] if len(stanza.holders) == 1 else None


def _parse_dep5(text: str) -> tuple[CopyrightStanza, ...]:
    if not text.startswith("Format:"):
        return ()
    stanzas = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, list[str]] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t"):
                if key is not None:
                    fields[key].append(line.strip())
            elif ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = [value.strip()]
        if "files" in fields:
            stanzas.append(
                CopyrightStanza(
                    patterns=tuple(" ".join(fields["files"]).split()),
                    holders=tuple(h for h in fields.get("copyright", []) if h),
                    licence=fields.get("license", [""])[0],
                )
            )
    return tuple(stanzas)


def read_copyright(root: Path, package: str) -> CopyrightFile:
    """The unpacked package's copyright file; empty when the package has none."""
    path = root / "usr/share/doc" / package / "copyright"
    text = path.read_text(errors="replace") if path.is_file() else ""
    return CopyrightFile(text=text, stanzas=_parse_dep5(text))


def package_licence(root: Path, package: str, copyright_file: CopyrightFile) -> str | None:
    """The licence of the package as a whole: the ``Files: *`` stanza, else the free text.

    Old-style copyright files may carry a licence's full text without its version; the
    package's other docs (a README) often name it, so they are read too.
    """
    for stanza in copyright_file.stanzas:
        if "*" in stanza.patterns:
            return stanza.licence
    if copyright_file.stanzas:
        return None
    docs = root / "usr/share/doc" / package
    readmes = sorted(docs.glob("README*")) if docs.is_dir() else []
    for text in [copyright_file.text, *(p.read_text(errors="replace") for p in readmes)]:
        licence = licence_from_text(text)
        if licence:
            return licence
    return None


# ---------------------------------------------------------------- package parsers


@dataclass(frozen=True)
class Track:
    """One piece of music in an unpacked package, with its credit as the package gives it."""

    package: str
    path: Path
    source_path: str
    song: str
    title: str | None
    credit: str | None
    credit_source: str
    licence: str | None
    licence_source: str


def _tags(path: Path) -> dict[str, str]:
    try:
        with sf.SoundFile(str(path)) as handle:
            metadata = handle.copy_metadata()
    except _DECODE_ERRORS:
        return {}
    return {key: value.strip() for key, value in metadata.items() if value.strip()}


def _make_track(
    package: str,
    root: Path,
    path: Path,
    copyright_file: CopyrightFile,
    *,
    source_path: str | None = None,
    song: str | None = None,
    title: str | None = None,
    credit: tuple[str, str] | None = None,
    licence: tuple[str, str] | None = None,
) -> Track:
    """A track with credit and licence resolved from the best source the package has.

    Credit: the package's own music metadata (``credit``), then a copyright stanza naming
    this very file, then the ARTIST tag. Licence: the file's LICENSE tag, then ``licence``
    (an album's licence file), then the governing copyright stanza, then the package's.
    """
    rel = path.relative_to(root).as_posix()
    source_path = source_path or rel
    tags = _tags(path)
    stanza = copyright_file.match(source_path)
    if credit is None and stanza is not None and not re.search(r"[*?\[]", stanza[1]):
        credit = (" & ".join(stanza[0].holders), f"copyright file, stanza Files: {stanza[1]}")
    if credit is None and "artist" in tags:
        credit = (tags["artist"], "Ogg tag ARTIST")
    if "license" in tags:
        licence = (licence_from_text(tags["license"]) or tags["license"], "Ogg tag LICENSE")
    elif licence is None and stanza is not None and stanza[0].licence:
        licence = (stanza[0].licence, f"copyright file, stanza Files: {stanza[1]}")
    elif licence is None:
        found = package_licence(root, package, copyright_file)
        licence = (found, "copyright file") if found else None
    return Track(
        package=package,
        path=path,
        source_path=source_path,
        song=song or path.stem,
        title=title or tags.get("title"),
        credit=credit[0] if credit else None,
        credit_source=credit[1] if credit else _NO_CREDIT,
        licence=licence[0] if licence else None,
        licence_source=licence[1] if licence else "none found",
    )


def _music_files(root: Path) -> list[Path]:
    return sorted(
        path
        for path in root.rglob("*")
        if path.suffix.lower() in _AUDIO_SUFFIXES
        and "music" in path.relative_to(root).parts[:-1]
        and path.is_file()
    )


def parse_tagged_music(root: Path, package: str) -> list[Track]:
    """Ogg/Opus files under a ``music`` folder (singularity, hyperrogue, supertux layout).

    Credit: the copyright stanza naming the file (hyperrogue lists each), else its tag.
    """
    copyright_file = read_copyright(root, package)
    return [_make_track(package, root, path, copyright_file) for path in _music_files(root)]


def parse_nexuiz(root: Path, package: str = "nexuiz-music") -> list[Track]:
    """The Ogg tracks inside Nexuiz's ``*.pk3`` zips, credited by their ARTIST tags.

    Members are extracted next to the zip (``music.pk3.d/``), once, so they can be seeked.
    """
    copyright_file = read_copyright(root, package)
    tracks = []
    for pk3 in sorted(root.rglob("*.pk3")):
        rel_pk3 = pk3.relative_to(root).as_posix()
        target = pk3.with_name(pk3.name + ".d")
        try:
            with zipfile.ZipFile(pk3) as archive:
                members = [
                    name
                    for name in archive.namelist()
                    if "cdtracks/" in name and name.lower().endswith(_AUDIO_SUFFIXES)
                ]
                for name in members:
                    if not (target / name).is_file():
                        archive.extract(name, target)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PackageError(package, f"{rel_pk3}: cannot read the zip ({exc})") from None
        for name in sorted(members):
            tracks.append(
                _make_track(
                    package,
                    root,
                    target / name,
                    copyright_file,
                    source_path=f"{rel_pk3}:{name}",
                )
            )
    return tracks


def music_attributes(text: str) -> dict[str, str]:
    """The attributes of a SuperTuxKart ``<music .../>`` file; empty if it is not one.

    Read leniently, as the game does: some files are not well-formed XML (a composer
    written as ``Name <https://...>`` has a raw ``<`` in an attribute value).
    """
    text = re.sub(r"<!--.*?-->", "", text, flags=re.DOTALL)
    element = re.search(r"<music\b(.*)", text, flags=re.DOTALL)
    if element is None:
        return {}
    pairs = re.findall(r"([\w-]+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')", element[1])
    return {key: html.unescape(double or single) for key, double, single in pairs}


def parse_supertuxkart(root: Path, package: str = "supertuxkart-data") -> list[Track]:
    """Every ``.music`` file (``title``, ``composer``, ``file``) and the Ogg it names.

    Alternate "fast" renditions are named by another attribute and are not separate songs.
    """
    copyright_file = read_copyright(root, package)
    tracks = []
    for music in sorted(root.rglob("*.music")):
        attributes = music_attributes(music.read_text(errors="replace"))
        if not attributes.get("file"):
            continue
        title = attributes.get("title")
        composer = attributes.get("composer")
        tracks.append(
            _make_track(
                package,
                root,
                music.parent / attributes["file"],
                copyright_file,
                song=title,
                title=title,
                credit=(composer, f"{music.name} composer") if composer else None,
            )
        )
    return tracks


def _album_licence(text: str, stem: str, stems: set[str]) -> str | None:
    """The licence an album's ``license.txt`` gives one track.

    The summary before the translated licence texts may give one track its own licence
    ("track3_enhanced is derived from ... GPL"); other tracks get the paragraphs that
    name no particular track.
    """
    summary = []
    for paragraph in re.split(r"\n[ \t]*\n", text):
        if paragraph.lstrip().startswith("["):
            break
        summary.append(" ".join(paragraph.split()))

    def names(paragraph: str) -> set[str]:
        return {s for s in stems if re.search(rf"\b{re.escape(s)}\b", paragraph)}

    own = [p for p in summary if stem in names(p) and "except" not in p.lower()]
    general = [p for p in summary if not names(p)]
    return licence_from_text(" ".join(own or general))


def parse_warzone2100(root: Path, package: str = "warzone2100-music") -> list[Track]:
    """Tracks listed in each album's ``album.json``, credited by the track's ``author``.

    Music files in no album.json have no author and are returned uncredited.
    """
    copyright_file = read_copyright(root, package)
    listed: set[Path] = set()
    tracks = []
    for album_json in sorted(root.rglob("album.json")):
        rel_album = album_json.relative_to(root).as_posix()
        try:
            album = json.loads(album_json.read_text())
            entries = [(entry["filename"], entry) for entry in album["tracks"]]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise PackageError(package, f"{rel_album}: unexpected album.json ({exc})") from None
        licence_file = album_json.with_name("license.txt")
        licence_text = licence_file.read_text(errors="replace") if licence_file.is_file() else ""
        stems = {Path(filename).stem for filename, _ in entries}
        for filename, entry in entries:
            path = album_json.parent / filename
            listed.add(path)
            author = entry.get("author") or album.get("author")
            licence = _album_licence(licence_text, path.stem, stems) if licence_text else None
            tracks.append(
                _make_track(
                    package,
                    root,
                    path,
                    copyright_file,
                    song=entry.get("title"),
                    title=entry.get("title"),
                    credit=(author, f"{rel_album} author") if author else None,
                    licence=(licence, f"{Path(rel_album).parent}/license.txt") if licence else None,
                )
            )
    for path in _music_files(root):
        if path not in listed:
            track = _make_track(package, root, path, copyright_file)
            tracks.append(replace(track, credit=None, credit_source="in no album.json"))
    return tracks


PARSERS: dict[str, Callable[[Path, str], list[Track]]] = {
    "nexuiz-music": parse_nexuiz,
    "supertuxkart-data": parse_supertuxkart,
    "warzone2100-music": parse_warzone2100,
    "singularity-music": parse_tagged_music,
    "hyperrogue-music": parse_tagged_music,
    "supertux-data": parse_tagged_music,
}


def with_package_author(
    tracks: list[Track], copyright_file: CopyrightFile
) -> tuple[list[Track], str | None]:
    """Credit every track to the copyright file's one author when the package credits none.

    Only for a package with no per-track credit at all: in a package that credits some
    tracks to several artists, a blanket stanza (supertux's ``data/music/*``) is known to
    be wrong for the rest, so those stay uncredited. Returns the tracks and a note.
    """
    if not tracks or any(track.credit for track in tracks):
        return tracks, None
    author = copyright_file.sole_author([track.source_path for track in tracks])
    if author is None:
        return tracks, None
    note = f"no per-track credit; every track credited to {author!r}, the copyright file's author"
    source = "copyright file (package-wide: the package credits no track)"
    return [replace(t, credit=author, credit_source=source) for t in tracks], note


# ---------------------------------------------------------------- fetching and unpacking


def unpacked_dir(cache_dir: Path, package: str) -> Path:
    """Where a package is unpacked inside the cache (reused by later runs)."""
    return Path(cache_dir) / "unpacked" / package


def find_deb(cache_dir: Path, package: str) -> Path | None:
    """The newest ``<package>_*.deb`` in the cache, if one was downloaded already."""
    debs = sorted(Path(cache_dir).glob(f"{package}_*.deb"), key=lambda p: p.stat().st_mtime)
    return debs[-1] if debs else None


def _run(package: str, command: list[str], cwd: Path | None, timeout_s: float) -> None:
    if shutil.which(command[0]) is None:
        raise PackageError(package, f"{command[0]} not found (this needs a Debian system)")
    try:
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired:
        raise PackageError(package, f"{' '.join(command)} took over {timeout_s:.0f} s") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        raise PackageError(
            package, f"{' '.join(command)} failed ({result.returncode}): {' / '.join(detail)}"
        )


def fetch_package(package: str, cache_dir: Path, timeout_s: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """The package's .deb from the cache, downloaded with ``apt-get download`` if absent."""
    cache_dir = Path(cache_dir)
    deb = find_deb(cache_dir, package)
    if deb is None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        _run(package, ["apt-get", "download", package], cache_dir, timeout_s)
        deb = find_deb(cache_dir, package)
    if deb is None:
        raise PackageError(package, f"apt-get download left no {package}_*.deb in {cache_dir}")
    return deb


def unpack_package(package: str, deb: Path, dest: Path) -> Path:
    """``dpkg -x`` (extract, never install) into ``dest``, which appears complete or not at all."""
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    _run(package, ["dpkg", "-x", str(deb), str(partial)], None, UNPACK_TIMEOUT_S)
    (partial / UNPACK_MARKER).write_text(deb.name + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return dest


def prepare_package(package: str, cache_dir: Path) -> tuple[Path, str | None]:
    """The unpacked tree and version of a package, fetching and unpacking only when needed.

    A tree is reused while its marker names the .deb in the cache (or no .deb is there).
    """
    root = unpacked_dir(cache_dir, package)
    marker = root / UNPACK_MARKER
    deb = find_deb(cache_dir, package)
    if not (marker.is_file() and (deb is None or marker.read_text().strip() == deb.name)):
        unpack_package(package, fetch_package(package, cache_dir), root)
    match = re.fullmatch(r"[^_]+_([^_]+)_[^_]+\.deb", marker.read_text().strip())
    return root, unquote(match[1]) if match else None


# ---------------------------------------------------------------- the corpus


@dataclass
class SongEntry:
    """One song in the corpus: where it came from, who made it, and what was cut from it."""

    artist: str
    song: str
    credits: list[str]
    artist_credit: str
    artist_source: str
    title: str | None
    package: str
    package_version: str | None
    source_path: str
    licence: str | None
    licence_source: str
    duration_s: float
    source_sample_rate: int
    sample_rate: int
    channels: int
    excerpts: list[dict[str, float | str]]


@dataclass
class PackageReport:
    """What one package contributed, and what it did not and why."""

    package: str
    status: str = "ok"
    error: str | None = None
    version: str | None = None
    licence: str | None = None
    note: str | None = None
    tracks_found: int = 0
    songs: int = 0
    artists: dict[str, int] = field(default_factory=dict)
    source_minutes: float = 0.0
    excerpt_minutes: float = 0.0
    skipped: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Corpus:
    """The built corpus: its songs and per-package reports, as written to corpus.json."""

    out_dir: Path
    settings: dict[str, float | int | None]
    songs: list[SongEntry]
    packages: dict[str, PackageReport]
    written: int = 0
    resumed: int = 0
    unlisted_files: list[str] = field(default_factory=list)

    def artists(self) -> dict[str, int]:
        """Songs per artist, most first: the unit an artist split draws from."""
        return dict(Counter(song.artist for song in self.songs).most_common())

    def summary(self) -> dict[str, object]:
        """The CLI's JSON: artists, songs and minutes overall and per package, failures."""
        return {
            "out_dir": str(self.out_dir),
            "manifest": str(self.out_dir / MANIFEST_NAME),
            "songs": len(self.songs),
            "artists": self.artists(),
            "source_minutes": round(sum(s.duration_s for s in self.songs) / 60, 2),
            "excerpt_minutes": round(sum(p.excerpt_minutes for p in self.packages.values()), 2),
            "written": self.written,
            "resumed": self.resumed,
            "packages": {
                name: {
                    "status": report.status,
                    "songs": report.songs,
                    "artists": len(report.artists),
                    "source_minutes": report.source_minutes,
                    "excerpt_minutes": report.excerpt_minutes,
                    "skipped": len(report.skipped),
                }
                for name, report in self.packages.items()
            },
            "failed": {n: r.error for n, r in self.packages.items() if r.status != "ok"},
            "unlisted_files": self.unlisted_files,
        }

    def manifest(self) -> dict[str, object]:
        """Everything corpus.json records."""
        return {
            "format": 1,
            "built_by": "benchmarks/real_corpus.py",
            "layout": "<artist>/<song>.flac, 16-bit FLAC excerpts",
            "settings": self.settings,
            "artists": self.artists(),
            "songs": [asdict(song) for song in self.songs],
            "packages": {name: asdict(report) for name, report in self.packages.items()},
        }


def _load_manifest(out_dir: Path) -> dict | None:
    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); move it away to rebuild") from None


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _excerpt_names(song: str, count: int) -> list[str]:
    if count == 1:
        return [f"{song}.flac"]
    return [f"{song}__{i + 1}of{count}.flac" for i in range(count)]


def _plan_package(
    package: str,
    cache_dir: Path,
    excerpt_s: float,
    count: int,
    sample_rate: int | None,
    taken: dict[tuple[str, str], SongEntry],
) -> tuple[PackageReport, list[tuple[Track, SongEntry]]]:
    """Find a package's tracks and decide each one's artist, song name and excerpts.

    ``taken`` maps (artist, song) to the entry that claimed it, across packages.
    """
    report = PackageReport(package)
    try:
        root, report.version = prepare_package(package, cache_dir)
        tracks = PARSERS[package](root, package)
    except PackageError as exc:
        return replace(report, status="failed", error=str(exc)), []
    except OSError as exc:
        return replace(report, status="failed", error=f"{package}: {exc}"), []
    copyright_file = read_copyright(root, package)
    report.licence = package_licence(root, package, copyright_file)
    tracks, report.note = with_package_author(tracks, copyright_file)
    report.tracks_found = len(tracks)
    planned = []

    def skip(track: Track, reason: str) -> None:
        report.skipped.append({"source_path": track.source_path, "reason": reason})

    for track in tracks:
        artist = artist_folder(track.credit) if track.credit else None
        if artist is None:
            named = f" ({track.credit!r} names no composer)" if track.credit else ""
            skip(track, f"no artist: {track.credit_source}{named}")
            continue
        try:
            info = sf.info(str(track.path))
        except _DECODE_ERRORS as exc:
            skip(track, f"not decodable ({exc})")
            continue
        duration = info.frames / info.samplerate
        offsets = excerpt_offsets(duration, excerpt_s, count)
        if not offsets:
            skip(track, f"too short ({duration:.1f} s) for {count} x {excerpt_s:g} s excerpts")
            continue
        song = slugify(track.song) or slugify(track.path.stem) or "track"
        other = taken.get((artist, song))
        if other is not None and other.package == package:
            song = f"{song}_{slugify(track.path.stem)}"
        elif other is not None:
            skip(track, f"same artist and title as {other.package}:{other.source_path}")
            continue
        rate = int(sample_rate or info.samplerate)
        entry = SongEntry(
            artist=artist,
            song=song,
            credits=credit_artists(track.credit or ""),
            artist_credit=track.credit or "",
            artist_source=track.credit_source,
            title=track.title,
            package=package,
            package_version=report.version,
            source_path=track.source_path,
            licence=track.licence,
            licence_source=track.licence_source,
            duration_s=round(duration, 3),
            source_sample_rate=int(info.samplerate),
            sample_rate=rate,
            channels=int(info.channels),
            excerpts=[
                {"file": f"{artist}/{name}", "start_s": round(start, 3), "seconds": excerpt_s}
                for name, start in zip(_excerpt_names(song, count), offsets, strict=True)
            ],
        )
        taken[(artist, song)] = entry
        planned.append((track, entry))
    return report, planned


def _write_song(track: Track, entry: SongEntry, out_dir: Path) -> bool:
    """Write a song's missing excerpts; True when anything was decoded."""
    wrote = False
    for excerpt in entry.excerpts:
        path = out_dir / str(excerpt["file"])
        if path.is_file():
            continue
        start_s, seconds = float(excerpt["start_s"]), float(excerpt["seconds"])
        audio, rate = _read_excerpt(track.path, start_s, seconds)
        if rate != entry.sample_rate:
            audio = resample(audio, rate, entry.sample_rate)
        write_audio(path, np.clip(audio, -1.0, 1.0), entry.sample_rate, subtype="PCM_16")
        wrote = True
    return wrote


def build_corpus(
    out_dir: Path,
    cache_dir: Path,
    packages: Sequence[str] = PACKAGES,
    excerpt_seconds: float = 30.0,
    excerpts_per_song: int = 1,
    sample_rate: int | None = None,
    min_artist_songs: int = 1,
    progress: bool = True,
) -> Corpus:
    """Build (or resume) ``<out_dir>/<artist>/<song>.flac`` and ``corpus.json``.

    Each package is fetched into ``cache_dir`` if missing, unpacked there, and read by its
    parser. A package that cannot be fetched, unpacked or read is reported and skipped;
    a track without an artist, too short, undecodable or already taken is skipped with its
    reason. Artists with fewer than ``min_artist_songs`` songs are left out (an artist
    split needs several songs per artist). ``sample_rate=None`` keeps each source's rate.
    Songs already on disk are not decoded again; corpus.json entries of packages not
    named in this run are kept, so the manifest describes the whole folder.
    """
    out_dir, cache_dir = Path(out_dir), Path(cache_dir)
    unknown = [p for p in packages if p not in PARSERS]
    if unknown:
        raise ValueError(f"unknown packages {unknown}; known: {', '.join(PACKAGES)}")
    if excerpt_seconds <= 0 or excerpts_per_song < 1 or min_artist_songs < 1:
        raise ValueError("excerpt_seconds > 0, excerpts_per_song >= 1, min_artist_songs >= 1")
    if sample_rate is not None and sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    settings: dict[str, float | int | None] = {
        "excerpt_seconds": float(excerpt_seconds),
        "excerpts_per_song": int(excerpts_per_song),
        "sample_rate": sample_rate,
        "edge_fraction": EDGE_FRACTION,
        "min_artist_songs": int(min_artist_songs),
    }
    previous = _load_manifest(out_dir)
    if previous is not None:
        old = previous.get("settings", {})
        differing = [k for k in settings if k != "min_artist_songs" and old.get(k) != settings[k]]
        if differing:
            raise ValueError(
                f"{out_dir / MANIFEST_NAME} was built with other settings "
                f"({', '.join(f'{k}={old.get(k)}' for k in differing)}); use another out dir"
            )
    kept = [
        SongEntry(**song)
        for song in (previous or {}).get("songs", [])
        if song["package"] not in packages
    ]
    reports = {
        name: PackageReport(**report)
        for name, report in (previous or {}).get("packages", {}).items()
        if name not in packages
    }
    taken = {(song.artist, song.song): song for song in kept}
    planned: list[tuple[Track, SongEntry]] = []
    for package in packages:
        if progress:
            tqdm.write(f"[real_corpus] {package}: preparing", file=sys.stderr)
        reports[package], package_songs = _plan_package(
            package, cache_dir, excerpt_seconds, excerpts_per_song, sample_rate, taken
        )
        planned.extend(package_songs)

    counts = Counter(song.artist for song in kept) + Counter(e.artist for _, e in planned)
    too_few = {artist for artist, n in counts.items() if n < min_artist_songs}
    for track, entry in planned:
        if entry.artist in too_few:
            reason = f"{entry.artist} has {counts[entry.artist]} song(s) < min_artist_songs"
            reports[entry.package].skipped.append(
                {"source_path": track.source_path, "reason": reason}
            )
    kept = [song for song in kept if song.artist not in too_few]
    planned = [(t, e) for t, e in planned if e.artist not in too_few]

    corpus = Corpus(out_dir=out_dir, settings=settings, songs=list(kept), packages=reports)
    out_dir.mkdir(parents=True, exist_ok=True)
    for track, entry in tqdm(
        planned, desc="excerpts", unit="song", file=sys.stderr, disable=not progress
    ):
        try:
            wrote = _write_song(track, entry, out_dir)
        except _DECODE_ERRORS as exc:
            reports[entry.package].skipped.append(
                {"source_path": track.source_path, "reason": f"decoding failed ({exc})"}
            )
            continue
        corpus.written += wrote
        corpus.resumed += not wrote
        corpus.songs.append(entry)
    for package in packages:
        songs = [song for song in corpus.songs if song.package == package]
        report = reports[package]
        report.songs = len(songs)
        report.artists = dict(Counter(song.artist for song in songs).most_common())
        report.source_minutes = round(sum(song.duration_s for song in songs) / 60, 2)
        excerpts = sum(len(song.excerpts) for song in songs)
        report.excerpt_minutes = round(excerpts * excerpt_seconds / 60, 2)
    corpus.songs.sort(key=lambda song: (song.artist, song.song))
    listed = {str(e["file"]) for song in corpus.songs for e in song.excerpts}
    corpus.unlisted_files = sorted(
        p.relative_to(out_dir).as_posix()
        for p in out_dir.glob("*/*.flac")
        if p.relative_to(out_dir).as_posix() not in listed
    )
    _write_json(out_dir / MANIFEST_NAME, corpus.manifest())
    return corpus


def _default_cache() -> Path:
    return next((p for p in DEFAULT_CACHE_DIRS if p.is_dir()), DEFAULT_CACHE_DIRS[-1])


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: build the corpus, print the JSON summary; exit 1 when a package failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="corpus folder")
    parser.add_argument(
        "--cache",
        type=Path,
        default=_default_cache(),
        help="folder for .deb files (default: %(default)s)",
    )
    parser.add_argument("--packages", nargs="+", choices=PACKAGES, default=list(PACKAGES))
    parser.add_argument("--excerpt-seconds", type=float, default=30.0)
    parser.add_argument("--excerpts-per-song", type=int, default=1)
    parser.add_argument("--sample-rate", type=int, default=None, help="default: keep the source's")
    parser.add_argument("--min-artist-songs", type=int, default=1)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        corpus = build_corpus(
            args.out,
            args.cache,
            packages=args.packages,
            excerpt_seconds=args.excerpt_seconds,
            excerpts_per_song=args.excerpts_per_song,
            sample_rate=args.sample_rate,
            min_artist_songs=args.min_artist_songs,
            progress=not args.no_progress,
        )
    except ValueError as exc:
        print(f"real_corpus: {exc}", file=sys.stderr)
        return 2
    summary = corpus.summary()
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
