"""Tensors of other frameworks through DLPack, on both backends.

- Feeds: any object with ``__dlpack__`` (torch here; the fakes of dlpack_fakes.py for what
  no framework on this machine makes) is read in place when it is C-contiguous and of the
  input's dtype (peak-memory probe in a fresh process, as in test_zero_copy.py), copied
  once otherwise, refused with a typed error where ortnative cannot (requires grad,
  device memory a session cannot take, a device tensor that would need a copy).
- out=: DLPack tensors are written in place and returned as themselves.
- Outputs: NumPy arrays, which torch.from_dlpack / numpy.from_dlpack take without a copy:
  same address, and writes through one are seen through the other.
- Device memory (CPU-side logic only, no GPU here): refusal messages, the stream a
  producer is asked to order its work before, output_device checks, and the DeviceTensor
  exporter (over host memory, through a test hook on the native backend and an
  onnxruntime OrtValue on the python backend).
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import weakref

import dlpack_fakes as fakes
import numpy as np
import ortnative as ortn
import pytest
from conftest import require_module
from ortnative import models

MB = 1024 * 1024


@pytest.fixture
def torch():
    return require_module("torch", "PyTorch is the DLPack producer these tests use")


class Producer:
    """Any DLPack producer: forwards the protocol to a torch tensor (and is no torch.Tensor,
    so the native backend's torch shortcut does not apply: this is the generic path)."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __dlpack__(self, **kw):
        return self.tensor.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self.tensor.__dlpack_device__()


def add_one(make_session, shape=("N", 4)):
    return make_session(models.add_one(shape))


# -- feeds --------------------------------------------------------------------------------


def test_torch_feed(make_session, torch):
    s = add_one(make_session)
    x = torch.arange(8, dtype=torch.float32).reshape(2, 4)
    np.testing.assert_array_equal(s.run({"x": x})["y"], x.numpy() + 1)
    np.testing.assert_array_equal(s.run({"x": Producer(x)})["y"], x.numpy() + 1)
    np.testing.assert_array_equal(s.run([x])["y"], x.numpy() + 1)
    np.testing.assert_array_equal(s.run(x)["y"], x.numpy() + 1)  # one tensor, one input


def test_non_contiguous_torch_feed_is_copied_once_and_right(make_session, torch):
    s = add_one(make_session)
    base = torch.arange(8, dtype=torch.float32).reshape(4, 2)
    x = base.t()  # (2, 4), strides (1, 2)
    assert not x.is_contiguous()
    np.testing.assert_array_equal(s.run({"x": x})["y"], x.contiguous().numpy() + 1)
    np.testing.assert_array_equal(s.run({"x": Producer(x)})["y"], x.contiguous().numpy() + 1)
    sliced = torch.arange(16, dtype=torch.float32).reshape(4, 4)[::2]
    np.testing.assert_array_equal(s.run({"x": sliced})["y"], sliced.numpy() + 1)


def test_legacy_producer(make_session):
    # A producer older than DLPack 1.0: no max_version keyword, a "dltensor" capsule.
    s = add_one(make_session)
    arr = np.arange(8, dtype=np.float32).reshape(2, 4)
    t = fakes.Tensor.over(arr, legacy_only=True)
    np.testing.assert_array_equal(s.run({"x": t})["y"], arr + 1)
    assert t.calls[0]["max_version"][0] == 1  # asked for a versioned capsule first
    assert "max_version" not in t.calls[1]  # then for a legacy one
    assert all("stream" not in c for c in t.calls)  # host memory: no stream


def test_versioned_producer_with_strides(make_session):
    s = add_one(make_session)
    arr = np.arange(16, dtype=np.float32).reshape(4, 4)
    # Rows 0 and 2 of ARR, as a (2, 4) tensor with row stride 8: one copy, right values.
    t = fakes.Tensor((2, 4), device=(fakes.CPU, 0), array=arr, strides=(8, 1))
    np.testing.assert_array_equal(s.run({"x": t})["y"], arr[::2] + 1)


@pytest.mark.parametrize(
    ("dtype", "given"),
    [("float64", "float64"), ("int32", "int32"), ("float8_e4m3fn", "float8_e4m3fn")],
)
def test_torch_dtype_mismatch(make_session, torch, dtype, given):
    s = add_one(make_session)
    x = torch.ones(2, 4, dtype=getattr(torch, dtype))
    with pytest.raises(ortn.InvalidTypeError) as err:
        s.run({"x": x})
    assert str(err.value) == (
        f"model '<bytes>': input 'x' has dtype {given}, expected float32 (ortnative never "
        "casts: convert with .astype(numpy.float32))"
    )


def test_torch_bfloat16_feed(make_session, torch):
    require_module("ml_dtypes", "bfloat16 arrays")
    s = make_session(models.identity("bfloat16", shape=("N",)))
    x = torch.tensor([1.5, -2.0, 3.25], dtype=torch.bfloat16)
    y = s.run({"x": x})["y"]
    np.testing.assert_array_equal(y.astype(np.float32), [1.5, -2.0, 3.25])


def test_requires_grad_is_refused(make_session, torch):
    s = add_one(make_session)
    x = torch.ones(2, 4, requires_grad=True)
    with pytest.raises(ortn.InvalidInputError) as err:
        s.run({"x": x})
    assert str(err.value) == (
        "model '<bytes>': input 'x' is a Tensor that requires grad: pass tensor.detach() "
        "instead (ONNX Runtime computes no gradients, and ortnative never detaches silently)"
    )
    np.testing.assert_array_equal(s.run({"x": x.detach()})["y"], 2.0)  # the session works
    with pytest.raises(ortn.InvalidInputError, match="out array for output 'y' is a Tensor"):
        s.run({"x": x.detach()}, out={"y": torch.zeros(2, 4, requires_grad=True)})


def test_failing_dlpack_is_a_typed_error(make_session):
    class Broken:
        def __dlpack__(self, **kw):
            raise BufferError("cannot export this")

        def __dlpack_device__(self):
            return (1, 0)

    s = add_one(make_session)
    with pytest.raises(ortn.InvalidInputError) as err:
        s.run({"x": Broken()})
    assert str(err.value) == (
        "model '<bytes>': input 'x': Broken.__dlpack__() failed: BufferError: cannot export this"
    )


def test_newer_dlpack_major_is_refused(make_session):
    s = add_one(make_session)
    t = fakes.Tensor.over(np.zeros((1, 4), np.float32), version=(2, 0))
    with pytest.raises(ortn.InvalidInputError, match=r"it gave DLPack 2\.0, newer than"):
        s.run({"x": t})


@pytest.mark.parametrize("wrap", [False, True], ids=["torch", "generic"])
def test_feed_stays_alive_for_the_run(make_session, torch, wrap):
    # The producer's tensor is referenced only by the feeds dict, which goes away before
    # the run does; the run must still read it, and nothing may be kept afterwards.
    s = add_one(make_session, shape=("N", 1024))
    x = torch.full((64, 1024), 3.0)
    ref = weakref.ref(x)
    fut = s.run_async({"x": Producer(x) if wrap else x})
    del x
    np.testing.assert_array_equal(fut.result()["y"], 4.0)
    gc.collect()
    assert ref() is None  # released once the run was done


def test_scheduler_and_async(backend, torch):
    model = models.add_one(("N", 4))
    s = ortn.Session(model, backend=backend)
    x = torch.ones(3, 4)

    async def go():
        return await s.arun({"x": x})

    import asyncio

    np.testing.assert_array_equal(asyncio.run(go())["y"], 2.0)
    with ortn.Scheduler(backend=backend) as sched:
        sched.add_model("m", model, max_batch_size=8)
        np.testing.assert_array_equal(sched.run("m", {"x": x})["y"], 2.0)
        futs = [sched.submit("m", {"x": torch.full((1, 4), float(i))}) for i in range(6)]
        for i, f in enumerate(futs):
            np.testing.assert_array_equal(f.result()["y"], i + 1.0)

        async def infer():
            return await sched.infer("m", {"x": x})

        np.testing.assert_array_equal(asyncio.run(infer())["y"], 2.0)


def test_compat_takes_dlpack_feeds(backend, torch):
    from ortnative import compat

    sess = compat.InferenceSession(models.add_one(("N", 4)), backend=backend)
    x = torch.arange(8, dtype=torch.float32).reshape(2, 4)
    np.testing.assert_array_equal(sess.run(None, {"x": x})[0], x.numpy() + 1)
    with pytest.raises(ortn.InvalidInputError, match="requires grad"):
        sess.run(None, {"x": torch.ones(2, 4, requires_grad=True)})


# -- zero copy, shown by peak memory in a fresh process -----------------------------------

_PROBE = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np, torch
    import ortnative as ortn
    from ortnative import models

    backend, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = models.reduce_sum() if mode != "out" else models.identity("float32", ("N",))
    s = ortn.Session(model, backend=backend)
    s.run({"x": torch.ones(16)})  # warm up: ORT's lazy allocations
    class Producer:  # a generic DLPack producer (not a torch.Tensor)
        def __init__(self, t): self.t = t
        def __dlpack__(self, **kw): return self.t.__dlpack__(**kw)
        def __dlpack_device__(self): return self.t.__dlpack_device__()

    wrap = Producer if "generic" in sys.argv[4:] else lambda t: t
    x = torch.ones(n) if mode != "strided" else torch.ones(2 * n)[::2]
    x = wrap(x)
    out = {"y": torch.full((n,), 7.0)} if mode == "out" else None
    if out:
        target, out = out["y"], {"y": wrap(out["y"])}
    ptr = target.data_ptr() if out else 0
    peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    before = peak()
    y = s.run({"x": x}, out=out)
    after = peak()
    if mode == "out":
        ok = bool((target == 1).all()) and y["y"] is out["y"] and target.data_ptr() == ptr
    else:
        ok = float(y["s"]) == n
    print(json.dumps({"growth": after - before, "ok": ok}))
    """
)


def _probe(backend: str, mode: str, producer: str, n: int = 64 * MB) -> dict:
    require_module("torch", "the probe feeds torch tensors")
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, backend, mode, str(n), producer],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


PRODUCERS = pytest.mark.parametrize("producer", ["torch", "generic"])


@PRODUCERS
def test_contiguous_torch_feed_is_read_in_place(backend, producer):
    got = _probe(backend, "plain", producer)
    assert got["ok"]
    # A copy of the 256 MB input would show; allow a little for allocator noise.
    assert got["growth"] < 16 * MB, got


@pytest.mark.peak_rss  # a lower bound on peak RSS growth: not under ASan's allocator
@PRODUCERS
def test_strided_torch_feed_costs_exactly_one_copy(backend, producer):
    got = _probe(backend, "strided", producer)
    assert got["ok"]
    assert 0.75 * 256 * MB < got["growth"] < 1.25 * 256 * MB, got


@PRODUCERS
def test_torch_out_is_written_in_place(backend, producer):
    got = _probe(backend, "out", producer)
    assert got["ok"]  # the same tensor object, same address, the model's values
    if backend == "native":
        assert got["growth"] < 16 * MB, got  # ORT writes straight into the tensor
    else:
        assert got["growth"] < 1.25 * 256 * MB, got  # the fallback copies into it (docs)


# -- out= -------------------------------------------------------------------------------


def test_torch_out(make_session, torch):
    s = add_one(make_session)
    x = torch.arange(8, dtype=torch.float32).reshape(2, 4)
    y = torch.empty(2, 4)
    ptr = y.data_ptr()
    got = s.run({"x": x}, out={"y": y})
    assert got["y"] is y
    assert y.data_ptr() == ptr
    assert torch.equal(y, x + 1)
    z = torch.empty(2, 4)
    wrapped = Producer(z)
    assert s.run({"x": x}, out={"y": wrapped})["y"] is wrapped
    assert torch.equal(z, x + 1)


def test_bad_torch_out(make_session, torch):
    s = add_one(make_session)
    x = torch.ones(2, 4)
    with pytest.raises(ortn.InvalidInputError) as err:
        s.run({"x": x}, out={"y": torch.empty(4, 2).t()})
    assert str(err.value) == (
        "model '<bytes>': out array for output 'y' must be C-contiguous, aligned and "
        "writeable; this one is not C-contiguous"
    )
    with pytest.raises(ortn.InvalidTypeError, match="out array for output 'y' has dtype float64"):
        s.run({"x": x}, out={"y": torch.empty(2, 4, dtype=torch.float64)})
    with pytest.raises(ortn.InvalidInputError, match=r"has shape \(3, 4\)"):
        s.run({"x": x}, out={"y": torch.empty(3, 4)})
    ro = fakes.Tensor.over(np.zeros((2, 4), np.float32), read_only=True)
    with pytest.raises(ortn.InvalidInputError, match="this one is not writeable"):
        s.run({"x": x}, out={"y": ro})
    with pytest.raises(ortn.InvalidTypeError, match="must be a numpy array or a DLPack tensor"):
        s.run({"x": x}, out={"y": [0.0] * 8})


# -- outputs to other frameworks, sharing memory ----------------------------------------


@pytest.mark.parametrize("shape", [("N", 4), (2, 4)])  # ORT's memory / a planned array
def test_outputs_shared_with_torch_and_numpy(make_session, torch, shape):
    s = add_one(make_session, shape=shape)
    y = s.run({"x": np.zeros((2, 4), np.float32)})["y"]
    t = torch.from_dlpack(y)
    assert t.data_ptr() == y.ctypes.data  # one buffer
    t[0, 0] = 42.0
    assert y[0, 0] == 42.0  # a write through torch is seen through NumPy
    y[1, 3] = -5.0
    assert t[1, 3].item() == -5.0  # and the other way round
    n = np.from_dlpack(y)
    assert n.ctypes.data == y.ctypes.data
    del y, n
    gc.collect()
    assert t[0, 0].item() == 42.0  # the torch tensor keeps the memory alive


# -- device memory: the CPU-side logic ---------------------------------------------------


def test_cuda_feed_on_cpu_session_is_refused(make_session):
    s = add_one(make_session)
    t = fakes.Tensor((2, 4), device=(fakes.CUDA, 1))
    with pytest.raises(ortn.InvalidInputError) as err:
        s.run({"x": t})
    assert str(err.value) == (
        "model '<bytes>': input 'x' is in CUDA memory (cuda:1), but this session does not "
        "run on CUDA: copy it to the CPU first (.cpu() in PyTorch), or create the session "
        "with providers=['CUDAExecutionProvider', ...]"
    )
    # The producer was asked for the tensor as on CUDA: ordered before the legacy default
    # stream (1), the session having no stream of its own.
    assert t.calls == [{"stream": 1, "max_version": t.calls[0]["max_version"]}]
    np.testing.assert_array_equal(s.run({"x": np.zeros((2, 4), np.float32)})["y"], 1.0)


def test_cuda_out_on_cpu_session_is_refused(make_session):
    s = add_one(make_session)
    with pytest.raises(ortn.InvalidInputError) as err:
        s.run({"x": np.zeros((2, 4), np.float32)}, out={"y": fakes.Tensor((2, 4))})
    assert str(err.value).startswith(
        "model '<bytes>': out array for output 'y' is in CUDA memory (cuda:0), but this "
        "session does not run on CUDA"
    )


def test_other_devices_are_refused(make_session):
    s = add_one(make_session)
    with pytest.raises(ortn.InvalidInputError) as err:
        s.run({"x": fakes.Tensor((2, 4), device=(fakes.ROCM, 0))})
    assert str(err.value) == (
        "model '<bytes>': input 'x' is in rocm:0 memory, which ortnative cannot hand to ONNX "
        "Runtime (it takes host memory, and CUDA memory on a session that runs on CUDA): "
        "copy it to the CPU first"
    )


def test_strided_cuda_feed_cannot_be_copied(make_session):
    s = add_one(make_session)
    with pytest.raises(ortn.InvalidInputError) as err:
        s.run({"x": fakes.Tensor((2, 4), strides=(1, 2))})
    assert str(err.value) == (
        "model '<bytes>': input 'x' is a cuda:0 tensor that is not C-contiguous: ortnative "
        "copies host memory only; pass a contiguous tensor (.contiguous() in PyTorch)"
    )


def test_pinned_and_managed_memory_are_host_memory(make_session):
    s = add_one(make_session)
    arr = np.arange(8, dtype=np.float32).reshape(2, 4)
    for device in ((3, 0), (13, 0)):  # kDLCUDAHost, kDLCUDAManaged: the CPU reads them
        t = fakes.Tensor((2, 4), device=device, array=arr)
        np.testing.assert_array_equal(s.run({"x": t})["y"], arr + 1)


def test_unknown_dlpack_dtype_is_named(make_session):
    s = add_one(make_session)
    arr = np.zeros((2, 4), np.float32)
    t = fakes.Tensor((2, 4), device=(fakes.CPU, 0), array=arr, dtype=(2, 32, 4))
    with pytest.raises(ortn.InvalidTypeError, match="has dtype float32x4, expected float32"):
        s.run({"x": t})


def test_output_device_needs_cuda(backend):
    with pytest.raises(ortn.InvalidArgumentError) as err:
        ortn.Session(models.add_one(), backend=backend, output_device="cuda")
    assert str(err.value) == (
        "model '<bytes>': output_device='cuda:0' needs a session that runs on CUDA: pass "
        "providers=['CUDAExecutionProvider', ...]"
    )
    with pytest.raises(ortn.InvalidArgumentError, match="output_device must be 'cpu', 'cuda'"):
        ortn.Session(models.add_one(), backend=backend, output_device="gpu")
    assert ortn.SessionOptions(output_device="cuda:1").output_device == "cuda:1"
    assert ortn.SessionOptions(output_device="cuda").output_device_spec == (2, 0)


def _device_tensor(backend: str, arr: np.ndarray):
    """A DeviceTensor over ARR's memory (device cpu:0): the native backend's through its
    test hook, the python backend's over an onnxruntime OrtValue."""
    if backend == "native":
        from ortnative import _backend

        return _backend.native_module()._device_tensor_for_test(arr)
    import onnxruntime
    from ortnative import _dlpack

    value = onnxruntime.OrtValue.ortvalue_from_numpy(arr)
    return _dlpack.DeviceTensor(value, arr.dtype, (1, 0)), value


def test_device_tensor_exports_through_dlpack(backend, torch):
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    made = _device_tensor(backend, arr)
    dt = made if backend == "native" else made[0]
    if backend == "python" and not hasattr(made[1]._ortvalue, "to_dlpack"):
        pytest.skip("this onnxruntime has no DLPack export (1.2x+ has)")
    assert dt.shape == (2, 3)
    assert dt.dtype == np.float32
    assert dt.device == "cpu:0"
    assert dt.__dlpack_device__() == (1, 0)
    assert "shape=(2, 3)" in repr(dt)
    t = torch.from_dlpack(dt)
    ptr = arr.ctypes.data if backend == "native" else made[1].data_ptr()
    assert t.data_ptr() == ptr  # no copy
    np.testing.assert_array_equal(t.numpy(), arr)
    with pytest.raises(BufferError, match="does not copy it elsewhere"):
        dt.__dlpack__(dl_device=(2, 0))
    with pytest.raises(BufferError, match="copy=True"):
        dt.__dlpack__(copy=True)
    del dt, made
    gc.collect()
    np.testing.assert_array_equal(t.numpy(), arr)  # the export keeps the value alive


def test_sequence_of_dlpack_tensors(make_session, torch):
    s = make_session(models.sequence_model())
    parts = [torch.arange(3, dtype=torch.float32), Producer(torch.ones(2))]
    got = s.run({"seq": parts})
    np.testing.assert_array_equal(got["total"], [0, 1, 2, 1, 1])
    with pytest.raises(ortn.InvalidInputError, match="input 'seq' is a Tensor that requires grad"):
        s.run({"seq": [torch.ones(2, requires_grad=True)]})
    with pytest.raises(ortn.InvalidInputError, match="element of input 'seq' is in cuda:0 memory"):
        s.run({"seq": [fakes.Tensor((2,))]})


def test_ndarray_subclasses_take_the_numpy_path(make_session):
    s = add_one(make_session)
    m = np.ma.masked_array(np.zeros((2, 4), np.float32))
    np.testing.assert_array_equal(np.asarray(s.run({"x": m})["y"]), 1.0)
