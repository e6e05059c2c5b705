// ortnative: run ONNX models through ONNX Runtime with the least per-call overhead.
// This umbrella header includes the whole public C++ API. None of it needs the ONNX
// Runtime headers: the core loads libonnxruntime at run time (runtime.hpp).
#pragma once

#include "ortnative/dtype.hpp"
#include "ortnative/error.hpp"
#include "ortnative/preprocess.hpp"
#include "ortnative/runtime.hpp"
#include "ortnative/scheduler.hpp"
#include "ortnative/session.hpp"
#include "ortnative/value.hpp"
