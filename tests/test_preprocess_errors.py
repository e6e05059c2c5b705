"""Bad input to ImagePreprocessor, Pipeline and Transform: a typed error whose message
names what was wrong, the same type and words on both backends, and nothing written.

CASES is the catalogue (like tests/test_errors.py for sessions): each entry does one bad
thing and names the exception, the built-in bases it must also have, and the message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import ortnative as ortn
import pytest
from conftest import check_error, require_backend
from ortnative import models

IMG = np.zeros((10, 10, 3), np.uint8)


@dataclass(frozen=True)
class Case:
    id: str
    what: str  # the bad input, in words
    act: Callable[[str], Any]  # gets the backend name
    exc: type[BaseException]
    match: str  # regular expression the message must match
    also: tuple[type[BaseException], ...] = ()


def P(backend: str, *args: Any, **kw: Any) -> ortn.ImagePreprocessor:
    return ortn.ImagePreprocessor(*args, backend=backend, **kw)


def run(backend: str, images: Any, out: Any = None, **kw: Any) -> Any:
    return P(backend, (224, 224), **kw)(images, out=out)


def out_of(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    return np.zeros(shape, dtype)


def read_only() -> np.ndarray:
    a = out_of((1, 3, 224, 224))
    a.flags.writeable = False
    return a


def session(backend: str, model: bytes) -> ortn.Session:
    return ortn.Session(model, backend=backend)


def image_model(dtype: str = "float32", shape: tuple[Any, ...] = ("N", 3, 32, 32)) -> bytes:
    return models.identity(dtype, shape)


ARG = ortn.InvalidArgumentError
INPUT = ortn.InvalidInputError
TYPE = ortn.InvalidTypeError

CASES = [
    # --- options --------------------------------------------------------------------
    Case(
        "size-zero",
        "a zero output height",
        lambda b: P(b, (0, 224)),
        ARG,
        r"^size must be a positive int or a \(height, width\) pair of positive ints, "
        r"got \(0, 224\)$",
        (ValueError,),
    ),
    Case(
        "size-negative",
        "a negative size",
        lambda b: P(b, -5),
        ARG,
        r"^size must be a positive int or a \(height, width\) pair of positive ints, "
        r"got -5$",
    ),
    Case(
        "size-float",
        "float sizes",
        lambda b: P(b, (224.0, 224)),
        ARG,
        r"^size must be a positive int or a \(height, width\) pair of positive ints, "
        r"got \(224\.0, 224\)$",
    ),
    Case(
        "size-three",
        "three sizes",
        lambda b: P(b, (1, 2, 3)),
        ARG,
        r"^size must be a positive int or a \(height, width\) pair of positive ints, "
        r"got \(1, 2, 3\)$",
    ),
    Case(
        "resize-unknown",
        "an interpolation ortnative lacks",
        lambda b: P(b, resize="cubic"),
        ARG,
        r"^resize must be one of 'nearest', 'bilinear', 'area', got 'cubic'$",
    ),
    Case(
        "fit-unknown",
        "an unknown fit",
        lambda b: P(b, fit="fill"),
        ARG,
        r"^fit must be one of 'stretch', 'letterbox', 'center_crop', got 'fill'$",
    ),
    Case(
        "align-unknown",
        "an unknown letterbox alignment",
        lambda b: P(b, fit="letterbox", align="bottom"),
        ARG,
        r"^align must be one of 'center', 'top_left', got 'bottom'$",
    ),
    Case(
        "input-order-unknown",
        "an unknown input channel order",
        lambda b: P(b, input_order="yuv"),
        ARG,
        r"^input_order must be one of 'bgr', 'rgb', 'bgra', 'rgba', 'gray', got 'yuv'$",
    ),
    Case(
        "output-order-alpha",
        "an output order with alpha",
        lambda b: P(b, output_order="rgba"),
        ARG,
        r"^output_order must be one of 'rgb', 'bgr', 'gray', got 'rgba'$",
    ),
    Case(
        "layout-unknown",
        "an unknown layout",
        lambda b: P(b, layout="chw"),
        ARG,
        r"^layout must be one of 'nchw', 'nhwc', got 'chw'$",
    ),
    Case(
        "dtype-int8",
        "an output dtype ortnative does not make",
        lambda b: P(b, dtype="int8"),
        ARG,
        r"^dtype must be one of 'float32', 'float16', 'uint8', got 'int8'$",
    ),
    Case(
        "dtype-float64-type",
        "numpy.float64 as the output dtype",
        lambda b: P(b, dtype=np.float64),
        ARG,
        r"^dtype must be one of 'float32', 'float16', 'uint8', got 'float64'$",
    ),
    Case(
        "mean-length",
        "two means for three output channels",
        lambda b: P(b, mean=(0.5, 0.5)),
        ARG,
        r"^mean must be a number or 3 numbers \(one per output channel, in output_order\), "
        r"got 2$",
    ),
    Case(
        "std-length-gray",
        "three stds for gray output",
        lambda b: P(b, output_order="gray", std=(1, 2, 3)),
        ARG,
        r"^std must be a number or 1 number \(one per output channel, in output_order\), got 3$",
    ),
    Case(
        "std-zero",
        "a std of 0 in one channel",
        lambda b: P(b, std=(0.2, 0, 0.2)),
        ARG,
        r"^std must be non-zero, got 0 for output channel 1$",
    ),
    Case(
        "std-scalar-zero",
        "std=0",
        lambda b: P(b, std=0),
        ARG,
        r"^std must be non-zero, got 0 for output channel 0$",
    ),
    Case(
        "mean-text",
        "a string as the mean",
        lambda b: P(b, mean="abc"),
        ARG,
        r"^mean must be a number or a sequence of 3 numbers \(one per output channel\), "
        r"got 'abc'$",
    ),
    Case(
        "mean-nan",
        "a NaN mean",
        lambda b: P(b, mean=float("nan")),
        ARG,
        r"^mean must be finite, got nan for output channel 0$",
    ),
    Case(
        "pad-length",
        "two pad values for three channels",
        lambda b: P(b, fit="letterbox", pad_value=(1, 2)),
        ARG,
        r"^pad_value must be a number or 3 numbers \(one per output channel, in "
        r"output_order\), got 2$",
    ),
    Case(
        "scale-nan",
        "a NaN scale",
        lambda b: P(b, scale=float("nan")),
        ARG,
        r"^scale must be a finite number, got nan$",
    ),
    Case(
        "scale-text",
        "a string scale",
        lambda b: P(b, scale="1/255"),
        ARG,
        r"^scale must be a finite number, got '1/255'$",
    ),
    Case(
        "scale-overflow",
        "a scale whose scale / std overflows float32",
        lambda b: P(b, scale=1e300),
        ARG,
        r"^scale / std and mean / std must fit in float32 \(output channel 0\)$",
    ),
    Case(
        "threads-negative",
        "threads=-1",
        lambda b: P(b, threads=-1),
        ARG,
        r"^threads must be an int >= 0, got -1$",
    ),
    Case(
        "threads-bool",
        "threads=True",
        lambda b: P(b, threads=True),
        ARG,
        r"^threads must be an int >= 0, got True$",
    ),
    # --- images ---------------------------------------------------------------------
    Case(
        "image-float32",
        "a float32 image",
        lambda b: run(b, IMG.astype(np.float32)),
        TYPE,
        r"^image 0 has dtype float32, expected uint8 \(ImagePreprocessor takes 8-bit images; "
        r"never cast silently\)$",
        (TypeError,),
    ),
    Case(
        "image-int16-in-list",
        "an int16 second image in a list",
        lambda b: run(b, [IMG, IMG.astype(np.int16)]),
        TYPE,
        r"^image 1 has dtype int16, expected uint8 \(ImagePreprocessor takes 8-bit "
        r"images; never cast silently\)$",
    ),
    Case(
        "batch-bool",
        "a bool NxHxWxC batch",
        lambda b: run(b, np.zeros((2, 5, 5, 3), bool)),
        TYPE,
        r"^image 0 has dtype bool, expected uint8 \(ImagePreprocessor takes 8-bit "
        r"images; never cast silently\)$",
    ),
    Case(
        "images-text",
        "a file name instead of an image",
        lambda b: run(b, "frame.jpg"),
        TYPE,
        r"^images must be a numpy uint8 array \(an image, or an NxHxWxC batch\) or a list of "
        r"them, got str$",
    ),
    Case(
        "images-none",
        "None",
        lambda b: run(b, None),
        TYPE,
        r"^images must be a numpy uint8 array \(an image, or an NxHxWxC batch\) or a "
        r"list of them, got NoneType$",
    ),
    Case(
        "image-nested-list",
        "nested lists of pixels",
        lambda b: run(b, [[0, 1], [2, 3]]),
        TYPE,
        r"^image 0 must be a numpy array, got list$",
    ),
    Case(
        "image-rank-1",
        "a 1-D array",
        lambda b: run(b, np.zeros(10, np.uint8)),
        INPUT,
        r"^image 0 has shape \(10,\), expected an HxW or HxWxC array$",
        (ValueError,),
    ),
    Case(
        "image-rank-5",
        "a 5-D array",
        lambda b: run(b, np.zeros((1, 1, 2, 2, 3), np.uint8)),
        INPUT,
        r"^image 0 has shape \(1, 1, 2, 2, 3\), expected an HxW or HxWxC array$",
    ),
    Case(
        "image-in-list-rank-4",
        "a batch inside a list",
        lambda b: run(b, [np.zeros((1, 2, 2, 3), np.uint8)]),
        INPUT,
        r"^image 0 has shape \(1, 2, 2, 3\), expected an HxW or HxWxC array$",
    ),
    Case(
        "channels-4-for-bgr",
        "a BGRA frame with input_order='bgr'",
        lambda b: run(b, np.zeros((10, 10, 4), np.uint8)),
        INPUT,
        r"^image 0 has 4 channels \(shape \(10, 10, 4\)\), expected 3 for input_order 'bgr'$",
    ),
    Case(
        "channels-gray-for-bgr",
        "a gray HxW image with input_order='bgr'",
        lambda b: run(b, np.zeros((10, 10), np.uint8)),
        INPUT,
        r"^image 0 has 1 channel \(shape \(10, 10\)\), expected 3 for input_order 'bgr'$",
    ),
    Case(
        "channels-3-for-gray",
        "a colour image with input_order='gray'",
        lambda b: run(b, IMG, input_order="gray"),
        INPUT,
        r"^image 0 has 3 channels \(shape \(10, 10, 3\)\), expected 1 for input_order 'gray'$",
    ),
    Case(
        "channels-3-for-rgba",
        "a 3-channel image with input_order='rgba'",
        lambda b: run(b, [IMG, IMG], input_order="rgba"),
        INPUT,
        r"^image 0 has 3 channels \(shape \(10, 10, 3\)\), expected 4 for input_order 'rgba'$",
    ),
    Case(
        "image-empty-rows",
        "an image with no rows",
        lambda b: run(b, np.zeros((0, 10, 3), np.uint8)),
        INPUT,
        r"^image 0 is empty \(shape \(0, 10, 3\)\)$",
    ),
    Case(
        "image-empty-cols-second",
        "a second image with no columns",
        lambda b: run(b, [IMG, np.zeros((10, 0, 3), np.uint8)]),
        INPUT,
        r"^image 1 is empty \(shape \(10, 0, 3\)\)$",
    ),
    Case("no-images", "an empty list", lambda b: run(b, []), INPUT, r"^no images given$"),
    Case(
        "no-images-batch",
        "an empty NxHxWxC batch",
        lambda b: run(b, np.zeros((0, 10, 10, 3), np.uint8)),
        INPUT,
        r"^no images given$",
    ),
    # --- out= -----------------------------------------------------------------------
    Case(
        "out-dtype",
        "a float64 out for float32 output",
        lambda b: run(b, IMG, out_of((1, 3, 224, 224), np.float64)),
        TYPE,
        r"^out has dtype float64, expected float32 \(the preprocessor's dtype\)$",
        (TypeError,),
    ),
    Case(
        "out-big-endian",
        "a big-endian float32 out",
        lambda b: run(b, IMG, out_of((1, 3, 224, 224), ">f4")),
        TYPE,
        r"^out has dtype >f4, expected float32 \(the preprocessor's dtype\)$",
    ),
    Case(
        "out-dtype-uint8",
        "a float32 out for uint8 output",
        lambda b: run(b, IMG, out_of((1, 3, 224, 224)), dtype="uint8"),
        TYPE,
        r"^out has dtype float32, expected uint8 \(the preprocessor's dtype\)$",
    ),
    Case(
        "out-dtype-and-rank",
        "a float32 out of rank 3 for uint8 output: the dtype first",
        lambda b: run(b, IMG, out_of((0, 0, 0)), dtype="uint8"),
        TYPE,
        r"^out has dtype float32, expected uint8 \(the preprocessor's dtype\)$",
    ),
    Case(
        "out-shape",
        "one column too many",
        lambda b: run(b, IMG, out_of((1, 3, 224, 225))),
        INPUT,
        r"^out has shape \(1, 3, 224, 225\), expected \(1, 3, 224, 224\) "
        r"\(N, C, H, W for 1 image\)$",
        (ValueError,),
    ),
    Case(
        "out-no-batch-axis",
        "a CHW out without the batch axis",
        lambda b: run(b, IMG, out_of((3, 224, 224))),
        INPUT,
        r"^out has shape \(3, 224, 224\), expected \(1, 3, 224, 224\) \(N, C, H, W for "
        r"1 image\)$",
    ),
    Case(
        "out-layout",
        "an NCHW-shaped out for NHWC output",
        lambda b: run(b, IMG, out_of((1, 3, 224, 224)), layout="nhwc"),
        INPUT,
        r"^out has shape \(1, 3, 224, 224\), expected \(1, 224, 224, 3\) "
        r"\(N, H, W, C for 1 image\)$",
    ),
    Case(
        "out-batch",
        "an out for one image, two images given",
        lambda b: run(b, [IMG, IMG], out_of((1, 3, 224, 224))),
        INPUT,
        r"^out has shape \(1, 3, 224, 224\), expected \(2, 3, 224, 224\) \(N, C, H, W "
        r"for 2 images\)$",
    ),
    Case(
        "out-not-array",
        "a list as out",
        lambda b: run(b, IMG, [0.0]),
        TYPE,
        r"^out must be a numpy array, got list$",
    ),
    Case(
        "out-read-only",
        "a read-only out",
        lambda b: run(b, IMG, read_only()),
        INPUT,
        r"^out must be writeable and aligned, with a contiguous last dimension \(a "
        r"C-contiguous array, or a slice of one along its first axes\)$",
    ),
    Case(
        "out-strided-last-axis",
        "an out whose last axis is strided",
        lambda b: run(b, IMG, out_of((1, 3, 224, 448))[..., ::2]),
        INPUT,
        r"^out must be writeable and aligned, with a contiguous last dimension \(a "
        r"C-contiguous array, or a slice of one along its first axes\)$",
    ),
    # --- for_session, Pipeline, Transform ---------------------------------------------
    Case(
        "for-session-two-inputs",
        "a model with two inputs and no input_name",
        lambda b: ortn.ImagePreprocessor.for_session(session(b, models.two_inputs())),
        ARG,
        r"^the model has 2 inputs \('a', 'b'\): pass input_name$",
    ),
    Case(
        "for-session-not-an-image",
        "a 2-D input",
        lambda b: ortn.ImagePreprocessor.for_session(session(b, models.mlp())),
        ARG,
        r"^input 'x' \[N, 256\] is not an image batch: ImagePreprocessor makes 4-D NCHW or "
        r"NHWC tensors$",
    ),
    Case(
        "for-session-unknown-name",
        "an input name the model lacks",
        lambda b: ortn.ImagePreprocessor.for_session(session(b, image_model()), "img"),
        ARG,
        r"^unknown input name 'img' \(the model has: 'x'\)$",
    ),
    Case(
        "for-session-free-size",
        "free spatial dimensions and no size",
        lambda b: ortn.ImagePreprocessor.for_session(
            session(b, image_model(shape=("N", 3, "H", "W")))
        ),
        ARG,
        r"^input 'x' \[N, 3, H, W\] has free spatial dimensions: pass size=\(height, width\)$",
    ),
    Case(
        "for-session-layout",
        "no dimension that looks like channels",
        lambda b: ortn.ImagePreprocessor.for_session(session(b, image_model(shape=(1, 8, 8, 8)))),
        ARG,
        r"^cannot tell the layout of input 'x' \[1, 8, 8, 8\]: pass layout='nchw' or "
        r"layout='nhwc'$",
    ),
    Case(
        "for-session-dtype",
        "an int64 image input",
        lambda b: ortn.ImagePreprocessor.for_session(session(b, image_model("int64"))),
        ARG,
        r"^input 'x' takes int64; ImagePreprocessor makes float32, float16, uint8$",
    ),
    Case(
        "pipeline-dtype",
        "a float16 preprocessor for a float32 input",
        lambda b: ortn.Pipeline(P(b, 32, dtype="float16"), session(b, image_model())),
        ARG,
        r"^the preprocessor makes float16, but input 'x' takes float32$",
    ),
    Case(
        "pipeline-size",
        "a 224x224 preprocessor for a 32x32 input",
        lambda b: ortn.Pipeline(P(b, 224), session(b, image_model())),
        ARG,
        r"^the preprocessor makes \[N, 3, 224, 224\] \(nchw\), but input 'x' is "
        r"\[N, 3, 32, 32\]$",
    ),
    Case(
        "pipeline-layout",
        "an NHWC preprocessor for an NCHW input",
        lambda b: ortn.Pipeline(P(b, 32, layout="nhwc"), session(b, image_model())),
        ARG,
        r"^the preprocessor makes \[N, 32, 32, 3\] \(nhwc\), but input 'x' is \[N, 3, 32, 32\]$",
    ),
    Case(
        "pipeline-no-images",
        "an empty list through a Pipeline",
        lambda b: ortn.Pipeline(P(b, 32), session(b, image_model()))([]),
        INPUT,
        r"^no images given$",
    ),
    Case(
        "transform-odd-coords",
        "coordinates that are not (x, y) pairs",
        lambda b: P(b).transform(10, 10).to_source([1, 2, 3]),
        ARG,
        r"^coordinates must be \(x, y\) pairs along the last axis, got shape \(3,\)$",
    ),
]


def _trigger(case: Case, backend: str) -> BaseException:
    with pytest.raises(case.exc) as info:
        case.act(backend)
    return info.value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, backend: str):
    check_error(_trigger(case, backend), case)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_same_message_on_both_backends(case: Case):
    require_backend("native")
    native = _trigger(case, "native")
    python = _trigger(case, "python")
    assert type(native) is type(python)
    assert str(native) == str(python)


def test_catalogue_size():
    assert len(CASES) >= 50
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    "images",
    [
        [IMG, np.zeros((10, 10, 4), np.uint8)],  # the second image is bad
        [IMG, IMG.astype(np.float32)],
    ],
    ids=["channels", "dtype"],
)
def test_nothing_is_written_on_error(backend, images):
    p = P(backend, 16)
    out = np.full((2, 3, 16, 16), -1.0, np.float32)
    with pytest.raises(ortn.Error):
        p(images, out=out)
    assert np.all(out == -1)
    p([IMG, IMG], out=out)  # the preprocessor still works
    assert not np.any(out == -1)
