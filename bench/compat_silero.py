"""The compat suite's end-to-end workload: silero-vad over 60 s of synthetic audio, as a
user would write it (nothing ortnative in it). ``bench/compat.py`` runs it as is and
under ``python -m ortnative run``.

``python bench/compat_silero.py PASSES [--probs FILE]``: loads the ONNX model shipped in
the silero-vad wheel, makes the audio, warms up on 2 s, then times PASSES passes of
``model.audio_forward`` over the 60 s (1,875 calls of 512 samples each, every one a
``session.run``), and prints one JSON line: the seconds of each pass, the number of calls
per pass, and the class that ran the session. With ``--probs``, saves the speech
probabilities of the last pass (the suite compares them before timing anything).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from silero_vad import load_silero_vad

SR = 16000
SECONDS = 60.0


def synthetic_speech(seconds: float, seed: int = 0) -> torch.Tensor:
    """Noise with voiced bursts (harmonic tone, gliding pitch, syllable-rate envelope)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.01 * rng.standard_normal(t.size)
    start = 0.5
    while start < seconds - 1:
        dur = float(rng.uniform(0.6, 2.5))
        m = (t >= start) & (t < min(start + dur, seconds))
        env = 0.5 * (1 - np.cos(2 * np.pi * 4 * (t[m] - start)))
        f0 = rng.uniform(100, 220) + 20 * np.sin(2 * np.pi * 1.3 * t[m])
        phase = 2 * np.pi * np.cumsum(f0) / SR
        x[m] += 0.3 * env * sum(np.sin(k * phase) / k for k in range(1, 6))
        start += dur + float(rng.uniform(0.3, 2.0))
    return torch.from_numpy(x.astype(np.float32))


def main(argv: list[str]) -> int:
    passes = int(argv[0]) if argv else 3
    probs_path = argv[argv.index("--probs") + 1] if "--probs" in argv else None
    model = load_silero_vad(onnx=True)
    wav = synthetic_speech(SECONDS)
    model.audio_forward(wav[: 2 * SR], sr=SR)  # warm-up
    times = []
    probs = None
    for _ in range(passes):
        t0 = time.perf_counter()
        probs = model.audio_forward(wav, sr=SR)
        times.append(time.perf_counter() - t0)
    assert probs is not None
    if probs_path:
        np.save(probs_path, probs.numpy())
    print(
        json.dumps(
            {
                "seconds": times,
                "calls": int(probs.shape[-1]),
                "session": type(model.session).__module__,
                "delegation": getattr(model.session, "ortnative_delegation", None),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
