"""The generated phrases' dynamics (training/phrases.py, DYNAMICS): "coupled" plays a gesture's
level through the notes' velocities, so a soundfont's velocity-dependent timbre follows the
loudness the model hears; "independent" stays as the shipped models' data was made."""
import numpy as np

from training.phrases import INSTRUMENTS, make_phrase


def notes_with_cc11(dynamics, seed):
    """(velocity, CC11 in force) for every note of one phrase, and every CC11 value sent."""
    rng = np.random.default_rng([7, seed])
    phrase, _ = make_phrase(rng, INSTRUMENTS["horn"], 30.0, dynamics)
    events = sorted(phrase.events, key=lambda e: e[1])
    cc, pairs, sent = 127, [], []
    for e in events:
        if e[0] == "cc" and e[2] == 11:
            cc = e[3]
            sent.append(cc)
        elif e[0] == "on":
            pairs.append((e[3], cc))
    return np.array(pairs, float), np.array(sent)


def gm_volume_db(cc):
    return 40 * np.log10(np.maximum(cc, 1) / 127)


def test_coupled_dynamics_carry_the_level_in_the_velocity():
    pairs, sent = zip(*(notes_with_cc11("coupled", seed) for seed in range(8)))
    pairs, sent = np.concatenate(pairs), np.concatenate(sent)
    # CC11 never turns a note down by more than 3 dB: the level is the velocity's.
    assert gm_volume_db(sent).min() >= -3.1
    # Velocities span soft to loud, and CC11 follows them (a soft gesture is also turned down).
    assert pairs[:, 0].min() <= 40 and pairs[:, 0].max() >= 110
    assert np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1] > 0.5


def test_independent_dynamics_are_the_shipped_data():
    pairs, sent = zip(*(notes_with_cc11("independent", seed) for seed in range(8)))
    pairs, sent = np.concatenate(pairs), np.concatenate(sent)
    # CC11 down to 25 (-28 dB), drawn apart from the velocity.
    assert gm_volume_db(sent).min() < -20
    assert abs(np.corrcoef(pairs[:, 0], pairs[:, 1])[0, 1]) < 0.3
    # Seeded: the same phrase twice.
    again, _ = notes_with_cc11("independent", 0)
    first, _ = notes_with_cc11("independent", 0)
    assert np.array_equal(again, first)
