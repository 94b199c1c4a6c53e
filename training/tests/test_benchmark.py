"""The benchmark's measurements against analytic signals (training/benchmark.py)."""
import numpy as np

from training import HOP, SAMPLE_RATE
from training.benchmark import FLOOR_DB, harmonic_profile, pyin_f0


def test_the_harmonic_profile_reads_back_known_harmonic_levels():
    f0, seconds = 220.0, 1.0
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    k = np.arange(1, 73)  # 72 harmonics: up to 15.8 kHz
    levels_db = -0.6 * (k - 1) - 6.0 * (k % 2 == 0)  # falling 0.6 dB per harmonic, even ones 6 dB down
    levels_db[39] = -120.0  # harmonic 40 missing: the floor
    amps = 10 ** (levels_db / 20)
    x = (amps[:, None] * np.sin(2 * np.pi * f0 * k[:, None] * t)).sum(0) * 0.01
    frames = np.arange(60, 240)
    db, high, prominence = harmonic_profile(x, f0, frames)
    assert len(db) == 64, "up to the 64th harmonic"
    expected = np.maximum(levels_db[:64], FLOOR_DB)
    assert np.max(np.abs(db - expected)) < 0.05, np.abs(db - expected).max()
    power = amps ** 2
    share = 10 * np.log10(power[k * f0 > 4000].sum() / power.sum())
    assert abs(high - share) < 0.05, (high, share)
    assert prominence[:39].min() > 40, "a pure harmonic stands far above the gaps"

    # Noise at the harmonics' level has no prominence: the high band of a model that plays noise
    # where the instrument has harmonics reads ~0 dB, the instrument's own harmonics far more.
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(len(t)) * 0.01
    _, _, flat = harmonic_profile(noise, f0, frames)
    assert np.abs(np.median(flat)) < 1.0, np.median(flat)
    _, _, mixed = harmonic_profile(x + noise * 0.05, f0, frames)
    assert np.median(mixed[16:]) > 10 + np.median(flat), np.median(mixed[16:])


def test_the_f0_reference_follows_a_glide_within_a_cent():
    """A glide of a semitone per second (the reference averages over its 64 ms frame: vibrato reads
    shallower, by the same amount on the recording and on the resynthesis it is compared with)."""
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    f = 330.0 * 2 ** (t / 12)
    phase = 2 * np.pi * np.cumsum(f) / SAMPLE_RATE
    x = sum(np.sin(h * phase) / h for h in range(1, 9)) * 0.2
    got = pyin_f0(x, 200.0, 800.0)
    truth = f[np.arange(1, len(got) + 1) * HOP - 1]
    ok = np.isfinite(got)
    assert ok[50:-50].mean() > 0.95, "voiced throughout"
    ok[:50] = ok[-50:] = False
    cents = np.abs(1200 * np.log2(got[ok] / truth[ok]))
    assert np.median(cents) < 1.0, np.median(cents)


def test_a_benchmark_of_some_models_keeps_the_others_rows():
    from training.benchmark import merged_table, table

    def result(name, profile):
        return {"name": name, "soundfonts": ["musescore"], "notes": 2, "profile_1_20_db": profile,
                "profile_1_4_db": 1, "profile_5_16_db": 2, "profile_17_64_db": 3, "high_band_db": 0.5,
                "source_prominence_5_16_db": 20, "model_prominence_5_16_db": 10, "source_prominence_17_64_db": 5,
                "model_prominence_17_64_db": 1, "heldout_phrases": 1, "heldout_seconds": 30.0,
                "f0_error_pyin_cents_median": 0.5, "spectral_distance": 6.0}

    readme = f"<!-- benchmark:begin -->\n{table([result('Cello', 5.0), result('Violin', 5.1)])}<!-- benchmark:end -->"
    rows = merged_table(readme, [result("Sax", 3.0), result("Cello", 4.0)]).splitlines()
    assert [r.split("|")[1].strip() for r in rows[2:]] == ["Violin", "Cello", "Sax"]  # INSTRUMENTS order
    assert rows[3].split("|")[4].strip() == "4.0", "the new measurement replaces the old"


def test_sources_apart_pairs_the_same_note_and_velocity_of_two_soundfonts():
    from training.benchmark import sources_apart
    a, b = np.array([0.0, -6.0, -12.0]), np.array([0.0, -10.0, -4.0])  # |a - b| = 0, 4, 8: mean 4
    profiles = {("fluidr3", 60, 64): (a, -20.0, -12.0), ("musescore", 60, 64): (b, -26.0, -14.0),
                ("musescore", 64, 64): (b, -26.0, -14.0)}  # no partner: left out
    r = sources_apart(profiles)
    assert r["pairs"] == 1
    assert r["apart_1_20_db"] == 4.0 and r["floor_1_20_db"] == 2.0
    assert r["apart_high_db"] == 6.0 and r["loudness_apart_db"] == 2.0
    # The floor: no single profile is closer than half of it to both on average.
    rng = np.random.default_rng(1)
    for m in rng.uniform(-14, 2, size=(200, 3)):
        assert (np.abs(m - a).mean() + np.abs(m - b).mean()) / 2 >= r["floor_1_20_db"] - 1e-9
    assert sources_apart({("musescore", 60, 64): (a, 0.0, 0.0)}) is None, "one soundfont: nothing to compare"
