// ortnative errors: one exception type with a code, and one subclass per code so a
// C++ host can catch by type. The Python package maps each code onto the exception
// class of the same name (python/ortnative/errors.py); both backends raise the same.
//
// Every message names what was wrong, what was expected and what was given; an error
// that comes from ONNX Runtime keeps ORT's own text and adds the model (and the feeds,
// where it concerns a run).
#pragma once

#include <stdexcept>
#include <string>

namespace ortnative {

enum class ErrorCode : int {
  kRuntimeLoad = 1,  // libonnxruntime could not be opened, lacks OrtGetApiBase, or is too old
  kModelLoad,        // a model file or buffer that ORT cannot load (missing, empty, corrupt)
  kInvalidArgument,  // a bad option or parameter (not a feed): providers, threads, config
  kInvalidInput,     // a feed or out= array: unknown/missing name, wrong rank or shape, layout
  kInvalidType,      // a feed or out= array of the wrong dtype (never cast silently)
  kClosed,           // the session was closed
  kOrt,              // ONNX Runtime failed while running a model
  kQueueFull,        // a scheduler queue refused a request at once
  kTimeout,          // a request passed its deadline before it ran
  kCancelled,        // a request was cancelled before it ran
  kSchedulerClosed,  // the scheduler was closed
  kTerminated,       // a run stopped by RunOptions::terminate() (a kind of kOrt failure)
};

// Name of the Python exception class for CODE ("ModelLoadError", ...).
const char* error_code_name(ErrorCode code) noexcept;

// The base of every exception ortnative throws. Copyable (std::runtime_error).
class Error : public std::runtime_error {
 public:
  // ort_code is ORT's OrtErrorCode when the error came from ORT, else 0.
  Error(ErrorCode code, const std::string& message, int ort_code = 0)
      : std::runtime_error(message), code_(code), ort_code_(ort_code) {}
  ErrorCode code() const noexcept { return code_; }
  int ort_code() const noexcept { return ort_code_; }

 private:
  ErrorCode code_;
  int ort_code_;
};

#define ORTNATIVE_ERROR_CLASS(Name, Code)                       \
  class Name : public Error {                                   \
   public:                                                      \
    explicit Name(const std::string& message, int ort_code = 0) \
        : Error(ErrorCode::Code, message, ort_code) {           \
    }                                                           \
  }

ORTNATIVE_ERROR_CLASS(RuntimeLoadError, kRuntimeLoad);
ORTNATIVE_ERROR_CLASS(ModelLoadError, kModelLoad);
ORTNATIVE_ERROR_CLASS(InvalidArgumentError, kInvalidArgument);
ORTNATIVE_ERROR_CLASS(InvalidInputError, kInvalidInput);
ORTNATIVE_ERROR_CLASS(InvalidTypeError, kInvalidType);
ORTNATIVE_ERROR_CLASS(SessionClosedError, kClosed);
ORTNATIVE_ERROR_CLASS(OrtError, kOrt);
ORTNATIVE_ERROR_CLASS(QueueFullError, kQueueFull);
ORTNATIVE_ERROR_CLASS(RequestTimeoutError, kTimeout);
ORTNATIVE_ERROR_CLASS(CancelledError, kCancelled);
ORTNATIVE_ERROR_CLASS(SchedulerClosedError, kSchedulerClosed);
ORTNATIVE_ERROR_CLASS(RunTerminatedError, kTerminated);

#undef ORTNATIVE_ERROR_CLASS

// Throws the subclass of Error that matches CODE.
[[noreturn]] void throw_error(ErrorCode code, const std::string& message, int ort_code = 0);

}  // namespace ortnative
