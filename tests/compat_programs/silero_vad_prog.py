"""silero-vad on synthetic audio, as a user would write it (nothing ortnative in it):
the ONNX model shipped inside the silero-vad wheel, run through its OnnxWrapper, which
calls onnxruntime.InferenceSession. Prints one JSON line: the speech timestamps, every
chunk's speech probability, and which InferenceSession class ran."""

import json

import numpy as np
import torch
from silero_vad import get_speech_timestamps, load_silero_vad


def synthetic_speech(seconds: float = 8.0, sr: int = 16000, seed: int = 0) -> torch.Tensor:
    """Noise with three voiced bursts: a harmonic tone, gliding pitch, syllable-rate
    amplitude modulation."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.01 * rng.standard_normal(t.size)
    for start, dur in [(1.0, 1.5), (3.5, 2.0), (6.2, 1.2)]:
        m = (t >= start) & (t < start + dur)
        env = 0.5 * (1 - np.cos(2 * np.pi * 4 * (t[m] - start)))
        f0 = 140 + 20 * np.sin(2 * np.pi * 1.3 * t[m])
        phase = 2 * np.pi * np.cumsum(f0) / sr
        x[m] += 0.3 * env * sum(np.sin(k * phase) / k for k in range(1, 6))
    return torch.from_numpy(x.astype(np.float32))


def main() -> None:
    model = load_silero_vad(onnx=True)
    wav = synthetic_speech()
    stamps = get_speech_timestamps(wav, model, sampling_rate=16000)
    probs = model.audio_forward(wav, sr=16000).numpy().ravel().tolist()
    session = model.session
    print(
        json.dumps(
            {
                "result": {"timestamps": stamps, "probabilities": probs},
                "sessions": [
                    [type(session).__module__, getattr(session, "ortnative_delegation", "-")]
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
