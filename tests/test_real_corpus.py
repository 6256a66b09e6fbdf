"""The real-music corpus builder, on fake unpacked packages: no network, no Debian packages.

Each fake package is a folder tree shaped like the real ``dpkg -x`` output, holding a few
seconds of generated Ogg/Opus audio and the metadata files in the formats the real packages
use (tags, a zip, ``.music`` XML, ``album.json`` + ``license.txt``, DEP-5 and old-style
copyright files), so the parsers, name merging, excerpt placement, resume and manifest are
checked as they run on the real corpus.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks import real_corpus as rc

RATE = 8000
GPL_TEXT = (
    "This program is free software; you can redistribute it and/or modify it under the\n"
    "terms of the GNU General Public License as published by the Free Software\n"
    "Foundation; either version 2 of the License, or (at your option) any later version.\n"
)


def write_ogg(path: Path, seconds: float, *, opus: bool = False, **tags: str) -> Path:
    """A tone whose level rises linearly from 0 to 0.9, so an excerpt's level shows where
    in the track it was cut."""
    n = int(seconds * RATE)
    ramp = np.linspace(0.0, 0.9, n, dtype=np.float32)
    tone = np.sin(2 * np.pi * 440 * np.arange(n) / RATE).astype(np.float32)
    audio = np.stack([ramp * tone, ramp * tone], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = "OPUS" if opus else "VORBIS"
    with sf.SoundFile(path, "w", RATE, 2, format="OGG", subtype=subtype) as handle:
        for key, value in tags.items():
            setattr(handle, key, value)
        handle.write(audio)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def fake_nexuiz(root: Path) -> None:
    write(root / "usr/share/doc/nexuiz-music/copyright", "Nexuiz is (c) Alientrap\n" + GPL_TEXT)
    scratch = root.parent / "nexuiz-scratch"
    members = {
        "brainsukker.ogg": {"artist": "Gerd (elysis) Raudenbusch", "title": "Brainsukker"},
        "calling-bogus.ogg": {"artist": "www.elysis.de"},
        "stairs.ogg": {"artist": "blkrbt"},
        "northern-lights.ogg": {},
    }
    pk3 = root / "usr/share/games/nexuiz/data/music.pk3"
    pk3.parent.mkdir(parents=True)
    with zipfile.ZipFile(pk3, "w") as archive:
        for name, tags in members.items():
            archive.write(write_ogg(scratch / name, 5.0, **tags), f"sound/cdtracks/{name}")
    shutil.rmtree(scratch)


STK_COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: SuperTuxKart

Files: *
Copyright: 2006-2022 SuperTuxKart-Team
License: GPL-3+

Files: data/music/klabauter_dance.ogg
Copyright: Chris Leutwyler (Krobonil)
License: CC-BY-SA-3.0

Files: data/tracks/cave/*
Copyright: Jason Lavallée
License: GPL-2+ OR CC-BY-SA
"""


def fake_supertuxkart(root: Path) -> None:
    write(root / "usr/share/doc/supertuxkart-data/copyright", STK_COPYRIGHT)
    music = root / "usr/share/games/supertuxkart/data/music"
    write_ogg(music / "klabauter_dance.ogg", 5.0)
    write_ogg(music / "farm.ogg", 5.0)
    write_ogg(music / "farm_f.ogg", 5.0)
    write(
        music / "klabauter_dance.music",
        '<?xml version="1.0"?>\n<music title    = "Klabauter Dance"\n'
        '       composer = "Krobonil"\n       file     = "klabauter_dance.ogg"/>\n',
    )
    write(
        music / "farm.music",
        '<?xml version="1.0"?>\n<music title = "Golden Fields" composer = "Krobonil &amp; '
        'OzoneOne"\n file = "farm.ogg" fast = "true" fast-filename = "farm_f.ogg"/>\n'
        "<!-- a comment after the element -->\n",
    )
    cave = root / "usr/share/games/supertuxkart/data/tracks/cave"
    write_ogg(cave / "beneath_the_rabbit_hole.ogg", 5.0)
    write(
        cave / "beneath_the_rabbit_hole.music",
        '<?xml version="1.0"?>\n<music title = "Beneath the Rabbit Hole"\n'
        '  composer = "Jason Lavall&#233;e <https://example.org/jason>"\n'
        '  file = "beneath_the_rabbit_hole.ogg"/>\n',
    )


WARZONE_LICENCE = """\
For all track *except* track3_enhanced:

`Album` - Copyright (C) 2021 LupusMechanicus

'Album' is licensed and available under:
CC-BY-SA-3.0 (or, at your discretion, any later version)

Alternatively, 'Album' may be used & distributed under the terms of
the GNU General Public License Version 2 or later (the "GPL").

track3_enhanced is derived from Martin Severn's track3,
and is licensed under the terms of the GNU General Public License Version 2 or later.

[EN]
Attribution-ShareAlike 3.0 ... GNU General Public License Version 3 ...
"""


def fake_warzone(root: Path) -> None:
    write(
        root / "usr/share/doc/warzone2100-music/copyright",
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2005-2013, Warzone 2100 Project\nLicense: GPL-2+\n",
    )
    music = root / "usr/share/games/warzone2100/music"
    album = music / "albums/aftermath"
    write_ogg(album / "track17.opus", 5.0, opus=True)
    write_ogg(album / "track3_enhanced.opus", 5.0, opus=True)
    write(album / "license.txt", WARZONE_LICENCE)
    tracks = [
        {"filename": "track17.opus", "title": "Nuclear Heartbeat", "author": "LupusMechanicus"},
        {"filename": "track3_enhanced.opus", "title": "Track 3 - Enhanced"},
    ]
    write(
        album / "album.json",
        json.dumps({"title": "Aftermath", "author": "LupusMechanicus", "tracks": tracks}),
    )
    write_ogg(music / "menu.opus", 5.0, opus=True)


def fake_singularity(root: Path) -> None:
    write(
        root / "usr/share/doc/singularity-music/copyright",
        "It was downloaded from example.org\n\nUpstream Authors:\n\t Max McCracken\n\n"
        "Copyright (C) 2007 Max McCracken\n",
    )
    write(root / "usr/share/doc/singularity-music/README", "released under BY-SA 3.0.\n")
    music = root / "usr/share/games/singularity/music"
    write_ogg(music / "Nebula.ogg", 5.0)
    write_ogg(music / "lose/Chimes They Fade.ogg", 5.0)


def fake_supertux(root: Path) -> None:
    write(
        root / "usr/share/doc/supertux-data/copyright",
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: SuperTux team\nLicense: GPL-3+\n\n"
        "Files: data/music/*\nCopyright: Marek Moeckel <wansti@gmx.de>\nLicense: GPL-2+\n",
    )
    music = root / "usr/share/games/supertux2/music"
    write_ogg(music / "forest/bright_thunders.ogg", 5.0, artist="Chris Leutwyler")
    write_ogg(music / "forest/beneath_the_rabbit_hole.ogg", 5.0, artist="Jason Lavallee")
    write_ogg(music / "forest/forest.ogg", 5.0, artist="Wansti", title="Forest Dance")
    write_ogg(music / "misc/leveldone.ogg", 2.0, artist="Wansti")
    write_ogg(music / "misc/halloween_1.ogg", 5.0)
    write_ogg(root / "usr/share/games/supertux2/sounds/coin.ogg", 1.0)
    write(music / "forest/forest.music", '(supertux-music (file "forest.ogg"))\n')


FAKES = {
    "nexuiz-music": fake_nexuiz,
    "supertuxkart-data": fake_supertuxkart,
    "warzone2100-music": fake_warzone,
    "singularity-music": fake_singularity,
    "supertux-data": fake_supertux,
}


def unpacked(tmp_path: Path, package: str) -> Path:
    """A fake package unpacked on its own, for the parser tests."""
    root = tmp_path / package
    FAKES[package](root)
    return root


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A cache holding the fake packages as if already unpacked from their .debs."""
    cache = tmp_path / "cache"
    for package, make in FAKES.items():
        root = rc.unpacked_dir(cache, package)
        make(root)
        (root / rc.UNPACK_MARKER).write_text(f"{package}_1.0%3a2-1_all.deb\n")
    return cache


SETTINGS = {"excerpt_seconds": 2.0, "progress": False}


def build(out: Path, cache: Path, packages: list[str] | None = None, **kwargs) -> rc.Corpus:
    return rc.build_corpus(out, cache, packages or list(FAKES), **{**SETTINGS, **kwargs})


# ---------------------------------------------------------------- names, offsets, licences


@pytest.mark.parametrize(
    ("credit", "artists"),
    [
        ("Gerd (elysis) Raudenbusch", ["gerd_raudenbusch"]),
        ("elysis", ["gerd_raudenbusch"]),
        ("www.elysis.de", ["gerd_raudenbusch"]),
        ("http://zhaymusic.com/", ["zhaymusic"]),
        ("Jason Lavallée", ["jason_lavallee"]),
        ("Keith Baylis aka Vim", ["keith_baylis"]),
        ("Alexandr Zhelanov <https://soundcloud.com/alexandr-zhelanov>", ["alexandr_zhelanov"]),
        ("Heuchi1 (contains material from NASA)", ["heuchi1"]),
        ("Krobonil & OzoneOne", ["chris_leutwyler", "ozoneone"]),
        ("2017 0zone0ne and Krobonil", ["chris_leutwyler", "ozoneone"]),
        ("Shawn Parrotte (http://www.shawnparrotte.com)", ["shawn_parrotte"]),
        ("http://opengameart.org, from bart", []),
    ],
)
def test_credits_fold_to_canonical_artists(credit: str, artists: list[str]) -> None:
    assert rc.credit_artists(credit) == artists


def test_artist_folder_and_slugify() -> None:
    assert rc.artist_folder("Ozoneone & Krobonil") == "chris_leutwyler_and_ozoneone"
    assert rc.artist_folder("Krobonil & OzoneOne") == "chris_leutwyler_and_ozoneone"
    assert rc.artist_folder("http://opengameart.org, from bart") is None
    assert rc.slugify("Sky Vibe - High Frequency") == "sky_vibe_high_frequency"
    assert rc.slugify("Bjørn Lynne — Éte") == "bjorn_lynne_ete"


def test_excerpts_sit_in_the_middle_without_overlap() -> None:
    assert rc.excerpt_offsets(100.0, 30.0) == [35.0]
    starts = rc.excerpt_offsets(100.0, 10.0, count=2)
    assert starts == [25.0, 65.0]
    assert rc.excerpt_offsets(200.0, 30.0, count=3) == pytest.approx(
        [31.667, 85.0, 138.333], abs=1e-3
    )
    assert rc.excerpt_offsets(37.0, 30.0) == []  # the middle 80 % is 29.6 s
    assert rc.excerpt_offsets(37.5, 30.0) == [3.75]
    with pytest.raises(ValueError):
        rc.excerpt_offsets(100.0, 0.0)


@pytest.mark.parametrize(
    ("text", "licence"),
    [
        ("CC-BY-SA-3.0 (or, at your discretion, any later version)", "CC-BY-SA-3.0+"),
        ("http://creativecommons.org/licenses/by-sa/3.0/", "CC-BY-SA-3.0"),
        ("released under the same BY-SA 3.0 license", "CC-BY-SA-3.0"),
        (GPL_TEXT, "GPL-2+"),
        (
            "CC-BY-SA-4.0, or the GNU General Public License Version 2 or later",
            "CC-BY-SA-4.0 OR GPL-2+",
        ),
        ("Debian packaging is licensed under GPLv2 or later.", None),
    ],
)
def test_licence_from_text(text: str, licence: str | None) -> None:
    assert rc.licence_from_text(text) == licence


def test_dep5_last_matching_stanza_wins_across_install_paths(tmp_path: Path) -> None:
    root = unpacked(tmp_path, "supertuxkart-data")
    copyright_file = rc.read_copyright(root, "supertuxkart-data")
    stanza, pattern = copyright_file.match(
        "usr/share/games/supertuxkart/data/music/klabauter_dance.ogg"
    )
    assert (pattern, stanza.licence) == ("data/music/klabauter_dance.ogg", "CC-BY-SA-3.0")
    stanza, pattern = copyright_file.match("usr/share/games/supertuxkart/data/music/farm.ogg")
    assert (pattern, stanza.licence) == ("*", "GPL-3+")
    supertux = rc.read_copyright(unpacked(tmp_path, "supertux-data"), "supertux-data")
    stanza, pattern = supertux.match("usr/share/games/supertux2/music/forest/forest.ogg")
    assert (pattern, stanza.licence) == ("data/music/*", "GPL-2+")


def test_music_attributes_reads_files_that_are_not_wellformed_xml() -> None:
    text = '<music title = "B" composer = "A <https://x.org>" file = "b.ogg"/> <!-- c -->'
    assert rc.music_attributes(text) == {
        "title": "B",
        "composer": "A <https://x.org>",
        "file": "b.ogg",
    }
    assert rc.music_attributes('(supertux-music (file "a.ogg"))') == {}


# ---------------------------------------------------------------- package parsers


def by_name(tracks: list[rc.Track]) -> dict[str, rc.Track]:
    return {track.path.name: track for track in tracks}


def test_nexuiz_credits_come_from_tags_inside_the_zip(tmp_path: Path) -> None:
    tracks = by_name(rc.parse_nexuiz(unpacked(tmp_path, "nexuiz-music")))
    assert set(tracks) == {
        "brainsukker.ogg",
        "calling-bogus.ogg",
        "stairs.ogg",
        "northern-lights.ogg",
    }
    brain = tracks["brainsukker.ogg"]
    assert brain.credit == "Gerd (elysis) Raudenbusch"
    assert brain.credit_source == "Ogg tag ARTIST"
    assert (
        brain.source_path == "usr/share/games/nexuiz/data/music.pk3:sound/cdtracks/brainsukker.ogg"
    )
    assert brain.licence == "GPL-2+"
    assert brain.path.is_file()
    assert tracks["northern-lights.ogg"].credit is None


def test_supertuxkart_credits_come_from_music_files(tmp_path: Path) -> None:
    tracks = by_name(rc.parse_supertuxkart(unpacked(tmp_path, "supertuxkart-data")))
    assert set(tracks) == {"klabauter_dance.ogg", "farm.ogg", "beneath_the_rabbit_hole.ogg"}
    farm = tracks["farm.ogg"]
    assert (farm.credit, farm.song, farm.credit_source) == (
        "Krobonil & OzoneOne",
        "Golden Fields",
        "farm.music composer",
    )
    assert (farm.licence, farm.licence_source) == ("GPL-3+", "copyright file, stanza Files: *")
    assert tracks["klabauter_dance.ogg"].licence == "CC-BY-SA-3.0"
    rabbit = tracks["beneath_the_rabbit_hole.ogg"]
    assert rc.artist_folder(rabbit.credit or "") == "jason_lavallee"
    assert rabbit.licence == "GPL-2+ OR CC-BY-SA"


def test_warzone_authors_and_per_track_licences_come_from_the_album(tmp_path: Path) -> None:
    tracks = by_name(rc.parse_warzone2100(unpacked(tmp_path, "warzone2100-music")))
    track17, enhanced, menu = (
        tracks["track17.opus"],
        tracks["track3_enhanced.opus"],
        tracks["menu.opus"],
    )
    assert (track17.credit, track17.song) == ("LupusMechanicus", "Nuclear Heartbeat")
    assert track17.licence == "CC-BY-SA-3.0+ OR GPL-2+"
    assert enhanced.credit == "LupusMechanicus"  # the album's author when the track has none
    assert enhanced.licence == "GPL-2+"
    assert (menu.credit, menu.credit_source) == (None, "in no album.json")


def test_package_author_is_used_only_when_the_package_credits_no_track(tmp_path: Path) -> None:
    root = unpacked(tmp_path, "singularity-music")
    copyright_file = rc.read_copyright(root, "singularity-music")
    tracks = rc.parse_tagged_music(root, "singularity-music")
    assert [t.credit for t in tracks] == [None, None]
    assert tracks[0].licence == "CC-BY-SA-3.0"  # from the README: the copyright names none
    credited, note = rc.with_package_author(tracks, copyright_file)
    assert {t.credit for t in credited} == {"Max McCracken"}
    assert "Max McCracken" in (note or "")

    supertux = unpacked(tmp_path, "supertux-data")
    tracks = rc.parse_tagged_music(supertux, "supertux-data")
    assert "coin.ogg" not in by_name(tracks)  # sound effects are not under music/
    unchanged, note = rc.with_package_author(tracks, rc.read_copyright(supertux, "supertux-data"))
    assert note is None
    assert by_name(unchanged)["halloween_1.ogg"].credit is None


# ---------------------------------------------------------------- the builder


def test_build_writes_artist_folders_and_manifest(tmp_path: Path, cache: Path) -> None:
    out = tmp_path / "corpus"
    corpus = build(out, cache)
    assert corpus.artists() == {
        "max_mccracken": 2,
        "gerd_raudenbusch": 2,
        "chris_leutwyler": 2,  # supertuxkart's Krobonil and supertux's tag: one person
        "jason_lavallee": 1,  # the same song in two packages counts once
        "blkrbt": 1,
        "chris_leutwyler_and_ozoneone": 1,
        "lupusmechanicus": 2,
        "marek_moeckel": 1,
    }
    flacs = sorted(p.relative_to(out).as_posix() for p in out.glob("*/*.flac"))
    assert "chris_leutwyler/klabauter_dance.flac" in flacs
    assert "chris_leutwyler/bright_thunders.flac" in flacs
    assert "lupusmechanicus/nuclear_heartbeat.flac" in flacs
    assert len(flacs) == len(corpus.songs) == 12
    info = sf.info(str(out / "gerd_raudenbusch/brainsukker.flac"))
    assert (info.format, info.subtype, info.samplerate, info.frames) == (
        "FLAC",
        "PCM_16",
        8000,
        16000,
    )

    manifest = json.loads((out / "corpus.json").read_text())
    song = next(s for s in manifest["songs"] if s["song"] == "brainsukker")
    assert song["artist_credit"] == "Gerd (elysis) Raudenbusch"
    assert song["package"] == "nexuiz-music"
    assert song["package_version"] == "1.0:2-1"
    assert song["source_path"].endswith("music.pk3:sound/cdtracks/brainsukker.ogg")
    assert song["licence"] == "GPL-2+"
    assert song["duration_s"] == pytest.approx(5.0)
    assert song["excerpts"] == [
        {"file": "gerd_raudenbusch/brainsukker.flac", "start_s": 1.5, "seconds": 2.0}
    ]
    singularity = manifest["packages"]["singularity-music"]
    assert "Max McCracken" in singularity["note"]
    skipped = {
        Path(s["source_path"]).name: s["reason"]
        for report in manifest["packages"].values()
        for s in report["skipped"]
    }
    assert skipped["northern-lights.ogg"].startswith("no artist")
    assert skipped["menu.opus"] == "no artist: in no album.json"
    assert skipped["leveldone.ogg"].startswith("too short (2.0 s)")
    assert "supertuxkart-data" in skipped["beneath_the_rabbit_hole.ogg"]
    summary = corpus.summary()
    assert summary["failed"] == {}
    assert summary["packages"]["nexuiz-music"]["excerpt_minutes"] == pytest.approx(3 * 2 / 60)


def test_excerpt_is_cut_from_the_middle(tmp_path: Path, cache: Path) -> None:
    out = tmp_path / "corpus"
    build(out, cache, ["singularity-music"], excerpts_per_song=2, excerpt_seconds=1.0)
    first, _ = sf.read(str(out / "max_mccracken/nebula__1of2.flac"))
    second, _ = sf.read(str(out / "max_mccracken/nebula__2of2.flac"))
    # The source's level rises linearly 0 -> 0.9 over 5 s; excerpts centred at 1.5 s and 3.5 s.
    for audio, centre in ((first, 1.5), (second, 3.5)):
        peak = np.abs(audio).max()
        assert peak == pytest.approx(0.9 * (centre + 0.5) / 5.0, rel=0.1)


def test_rebuild_resumes_and_keeps_other_packages(tmp_path: Path, cache: Path) -> None:
    out = tmp_path / "corpus"
    first = build(out, cache)
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/*.flac")}
    (out / "blkrbt/stairs.flac").unlink()
    again = build(out, cache, ["nexuiz-music"])
    assert (again.written, again.resumed) == (1, 2)
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*.flac") if p.name != "stairs.flac"} == {
        p: t for p, t in stamps.items() if p.name != "stairs.flac"
    }
    assert len(again.songs) == len(first.songs)  # the other packages' entries are kept
    with pytest.raises(ValueError, match="other settings"):
        build(out, cache, excerpt_seconds=3.0)


def test_min_artist_songs_leaves_small_artists_out(tmp_path: Path, cache: Path) -> None:
    corpus = build(tmp_path / "corpus", cache, min_artist_songs=2)
    assert set(corpus.artists()) == {
        "max_mccracken",
        "gerd_raudenbusch",
        "chris_leutwyler",
        "lupusmechanicus",
    }
    reasons = [s["reason"] for r in corpus.packages.values() for s in r.skipped]
    assert any("blkrbt has 1 song(s) < min_artist_songs" in reason for reason in reasons)


def test_a_package_that_cannot_be_fetched_is_reported_and_skipped(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no apt-get, no dpkg
    corpus = build(tmp_path / "corpus", cache, ["hyperrogue-music", "nexuiz-music"])
    failure = corpus.summary()["failed"]["hyperrogue-music"]
    assert failure == "hyperrogue-music: apt-get not found (this needs a Debian system)"
    assert corpus.packages["nexuiz-music"].songs == 3


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="needs dpkg")
def test_a_broken_deb_is_reported_and_skipped(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    write(cache / "hyperrogue-music_1.0_all.deb", "not a deb")
    corpus = build(tmp_path / "corpus", cache, ["hyperrogue-music"])
    assert "dpkg -x" in (corpus.packages["hyperrogue-music"].error or "")
    assert corpus.songs == []


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_a_deb_in_the_cache_is_unpacked_and_read(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    fake_singularity(tree)
    write(
        tree / "DEBIAN/control",
        "Package: singularity-music\nVersion: 007-2\nArchitecture: all\n"
        "Maintainer: Test <t@example.org>\nDescription: test\n",
    )
    cache = tmp_path / "cache"
    cache.mkdir()
    deb = cache / "singularity-music_007-2_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(tree), str(deb)], check=True, capture_output=True)
    corpus = build(tmp_path / "corpus", cache, ["singularity-music"])
    assert corpus.artists() == {"max_mccracken": 2}
    assert corpus.songs[0].package_version == "007-2"
    marker = rc.unpacked_dir(cache, "singularity-music") / rc.UNPACK_MARKER
    assert marker.read_text().strip() == deb.name


def test_cli_prints_a_json_summary(
    tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "corpus"
    args = ["--out", str(out), "--cache", str(cache), "--packages", "warzone2100-music"]
    assert rc.main([*args, "--excerpt-seconds", "2"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["artists"] == {"lupusmechanicus": 2}
    assert summary["packages"]["warzone2100-music"]["songs"] == 2
    assert "warzone2100-music" in captured.err  # progress goes to stderr
    assert rc.main([*args, "--excerpt-seconds", "3"]) == 2  # other settings: a clear error
    assert "other settings" in capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["corpus.json", "lupusmechanicus"]
