"""Fuzz target: ImagePreprocessor parameters, image shapes, dtypes and strides.

Options (sizes, resize, fit, colour orders, scale/mean/std/pad values, layout, output
dtype, alignment, threads) and images (dtype, height, width, channels, crops,
flipped and strided views, batches of different sizes, out= buffers) come from the
input bytes. Both backends get the same call and must agree exactly: the same tensor
bit for bit and the same transforms, or the same exception with the same message.
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["ortnative"]):
    import numpy as np
    import ortnative as ortn
    import ortnative._fallback_preprocess
    from common import compare, main, outcome

RESIZE = ["nearest", "bilinear", "area", "cubic"]
FIT = ["stretch", "letterbox", "center_crop", "fill"]
IN_ORDERS = ["bgr", "rgb", "bgra", "rgba", "gray", "yuv"]
OUT_ORDERS = ["rgb", "bgr", "gray", "rgba"]
LAYOUTS = ["nchw", "nhwc", "chw"]
DTYPES = ["float32", "float16", "uint8", "int8", "float64"]
ALIGN = ["center", "top_left", "bottom"]


def _pick(fdp: atheris.FuzzedDataProvider, items: list[str]) -> str:
    return items[fdp.ConsumeIntInRange(0, len(items) - 1)]


def _values(fdp: atheris.FuzzedDataProvider) -> object:
    kind = fdp.ConsumeIntInRange(0, 4)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeFloatInRange(-300.0, 300.0)
    if kind == 2:
        return fdp.ConsumeFloat()  # nan, inf, huge
    n = fdp.ConsumeIntInRange(1, 4)
    return tuple(
        float(fdp.ConsumeIntInRange(0, 3)) if kind == 3 else fdp.ConsumeFloatInRange(-2, 300)
        for _ in range(n)
    )


def _image(fdp: atheris.FuzzedDataProvider) -> np.ndarray:
    h, w = fdp.ConsumeIntInRange(0, 40), fdp.ConsumeIntInRange(0, 40)
    channels = [None, 1, 3, 4, 2][fdp.ConsumeIntInRange(0, 4)]
    shape = (h, w) if channels is None else (h, w, channels)
    dtype = np.dtype(["uint8", "uint8", "uint8", "float32", "int16"][fdp.ConsumeIntInRange(0, 4)])
    n = int(np.prod(shape))
    raw = fdp.ConsumeBytes(n * dtype.itemsize).ljust(n * dtype.itemsize, bytes(1))
    img = np.frombuffer(raw, dtype=dtype, count=n).reshape(shape).copy()
    view = fdp.ConsumeIntInRange(0, 4)
    if view == 1 and h > 2 and w > 2:  # a crop of a bigger frame
        y0, x0 = fdp.ConsumeIntInRange(0, h // 2), fdp.ConsumeIntInRange(0, w // 2)
        img = img[y0:, x0:]
    elif view == 2:
        img = img[::-1]  # negative row stride
    elif view == 3 and img.ndim == 3:
        img = img[:, ::2]  # pixel stride
    elif view == 4:
        img = np.asfortranarray(img)
    return img


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    size: object = (fdp.ConsumeIntInRange(-1, 48), fdp.ConsumeIntInRange(-1, 48))
    if fdp.ConsumeIntInRange(0, 9) == 0:
        size = fdp.ConsumeIntInRange(-1, 48)
    kw = {
        "size": size,
        "resize": _pick(fdp, RESIZE),
        "fit": _pick(fdp, FIT),
        "input_order": _pick(fdp, IN_ORDERS),
        "output_order": _pick(fdp, OUT_ORDERS),
        "scale": None if fdp.ConsumeBool() else fdp.ConsumeFloat(),
        "mean": _values(fdp),
        "std": _values(fdp),
        "layout": _pick(fdp, LAYOUTS),
        "dtype": _pick(fdp, DTYPES),
        "pad_value": _values(fdp),
        "align": _pick(fdp, ALIGN),
        "threads": fdp.ConsumeIntInRange(-1, 3),
    }
    made = {
        b: outcome(lambda b=b: ortn.ImagePreprocessor(**kw, backend=b))
        for b in ("native", "python")
    }
    if "error" in (made["native"][0], made["python"][0]):
        compare(made["native"], made["python"], "construct")
        return
    pre_n, pre_p = made["native"][1], made["python"][1]
    if repr(pre_n).replace("native", "") != repr(pre_p).replace("python", ""):
        compare(("ok", repr(pre_n)), ("ok", repr(pre_p)), "repr")
    count = fdp.ConsumeIntInRange(0, 3)
    images: object = _image(fdp) if count == 0 else [_image(fdp) for _ in range(count)]
    out = None
    if fdp.ConsumeIntInRange(0, 3) == 0:
        shape = tuple(fdp.ConsumeIntInRange(0, 6) for _ in range(fdp.ConsumeIntInRange(3, 4)))
        out = np.zeros(shape, np.dtype(_pick(fdp, DTYPES)))

    def call(pre: ortn.ImagePreprocessor) -> tuple[object, object]:
        target = None if out is None else out.copy()
        tensor = pre(images, out=target)
        return tensor, [tuple(t) for t in pre.transforms]

    compare(outcome(lambda: call(pre_n)), outcome(lambda: call(pre_p)), "call")


def _seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {
        f"bytes-{i}": rng.integers(0, 256, 64 + 32 * i, dtype=np.uint8).tobytes() for i in range(16)
    }


if __name__ == "__main__":
    main(test_one_input, _seeds())
