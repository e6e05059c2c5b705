// Bindings: tensors of other frameworks through DLPack (the Python array API's exchange
// protocol: __dlpack__ / __dlpack_device__). Feeds and out= targets that offer it are
// read as the core's views over the producer's memory, without a copy when ORT can read
// them in place (the NumPy rules: C-contiguous and aligned; anything else in host memory
// costs exactly one copy, device memory none: refused); outputs that a session keeps on a
// device come back as DeviceTensor objects that export themselves through DLPack.
//
// Ownership: the producer's capsule is kept in the call's Refs and never renamed, so the
// producer's own capsule destructor frees the tensor once the call (or the scheduler's
// request) lets go of it: the producer's tensor stays alive for the whole run. Every
// function here needs the GIL.
#pragma once

#include <string>
#include <string_view>

#include "numpy_bridge.hpp"
#include "ortnative/session.hpp"

namespace ortnative::py_bridge {

// Whether OBJ offers DLPack (its type has __dlpack__) and is not a NumPy array (those
// take the NumPy path, which reads them in place already).
bool offers_dlpack(PyObject* obj);

// What a DLPack feed or out= target is used as: for messages (ROLE "input" or "out array
// for output", NAME the input's or output's) and for the stream to pass to __dlpack__.
struct DLPackUse {
  const Session& session;
  const char* role;
  std::string_view name;
};

// The layout facts of a DLPack tensor an out= target needs (Session::plan_outputs checks
// them).
struct DLPackLayout {
  bool contiguous = true;
  bool aligned = true;
  bool writeable = true;
};

// Fills VIEW from OBJ (offers_dlpack(OBJ) must hold) and keeps the producer's capsule
// alive in REFS. Raises (typed, worded by ortnative._messages) for a tensor that requires
// grad, a failing __dlpack__, or a device tensor that would need a copy. With LAYOUT
// null (a feed), a host tensor that is not C-contiguous or aligned is copied once
// (the copy kept in REFS); with LAYOUT set (an out= target) nothing is copied and LAYOUT
// says what the tensor is. Leaves view.dtype kUndefined for element types ortnative has
// no dtype for; *given_name then names it.
void dlpack_view(PyObject* obj, const DLPackUse& use, Refs& refs, TensorView& view,
                 std::string& given_name, DLPackLayout* layout);

// A feed OBJ that offers DLPack, as dlpack_view() reads it, for an input of dtype WANT;
// a CPU torch.Tensor takes a shortcut with the same outcome: its numpy() view (torch's
// __dlpack__ and __dlpack_device__ are Python code, several microseconds a call; numpy()
// shares the memory too), read as NumPy arrays are. Tensors numpy() cannot give (bfloat16,
// float8, conjugated, ...) take the DLPack path.
void dlpack_feed(PyObject* obj, const DLPackUse& use, DType want, Refs& refs, StringStore& strings,
                 TensorView& view, std::string& given_name);

// An out= target OBJ that offers DLPack, as the core's OutArray for output O.output: its
// view and layout facts (Session::plan_outputs checks them), OBJ and its capsule kept in
// REFS. GIVEN_DTYPE receives the name of an element type without a DType (o.given_dtype
// then points at it).
void dlpack_out_array(PyObject* obj, const Session& session, Refs& refs, OutArray& o,
                      std::string& given_dtype);

// A Python DeviceTensor owning VALUE (a tensor in device memory): shape, dtype, device,
// __dlpack__, __dlpack_device__. New reference.
PyObject* device_tensor(Value&& value);

// Registers DeviceTensor (and a test hook that wraps a NumPy array as one).
void register_dlpack(py::module_& m);

}  // namespace ortnative::py_bridge
