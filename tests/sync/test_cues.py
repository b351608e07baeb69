"""Training-free cues: lag correlations and the jaw-energy cue on hand-made signals."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.sync.cues import JAW, jaw_energy_cue, lag_correlations


@pytest.mark.parametrize("d", [-5, 3])
def test_lag_correlations_find_a_lagged_copy(rng, d):
    signal = rng.standard_normal(120)
    video = signal[20:100]
    audio = signal[20 + d : 100 + d]  # audio[i - d] = video[i]: the audio leads by d
    curve = lag_correlations(video, audio, max_offset=8)
    assert int(np.nanargmax(curve)) - 8 == d
    assert curve[8 + d] == pytest.approx(1.0)
    video_with_gaps = video.copy()
    video_with_gaps[::7] = np.nan  # unknown frames are left out, not zero-filled
    assert lag_correlations(video_with_gaps, audio, 8)[8 + d] == pytest.approx(1.0)
    assert np.isnan(lag_correlations(np.ones(80), audio, 8)).all()  # constant: no correlation


def test_the_jaw_cue_finds_a_shift_of_the_audio_and_is_sure_of_it(rng):
    """A jaw that opens as the audio's energy rises: the cue finds the audio's lead, with a
    high z-score; against unrelated audio its z-score is low."""
    n, lead = 400, 4
    drive = np.convolve(rng.standard_normal(n + 40), np.ones(3) / 3, mode="same")
    energy = np.cumsum(drive)[20 : 20 + n]  # the log-energy; its change is the drive
    bands = np.repeat(energy[:, None], 40, axis=1) - np.log(40.0)  # log-sum-exp == energy
    lips = np.zeros((n, 9))
    lips[:, JAW] = drive[20 : 20 + n]
    # audio leading by `lead`: audio[i - lead] pairs with video[i]
    shifted = np.concatenate([bands[lead:], np.repeat(bands[-1:], lead, axis=0)])
    offset, conf = jaw_energy_cue(lips, shifted, max_offset=15)
    assert offset == lead and conf > 3.0
    other = np.cumsum(rng.standard_normal(n))
    _, unrelated = jaw_energy_cue(lips, np.repeat(other[:, None], 40, axis=1), max_offset=15)
    assert unrelated < conf - 2.0
