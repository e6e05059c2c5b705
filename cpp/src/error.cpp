#include "ortnative/error.hpp"

namespace ortnative {

const char* error_code_name(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kRuntimeLoad: return "RuntimeLoadError";
    case ErrorCode::kModelLoad: return "ModelLoadError";
    case ErrorCode::kInvalidArgument: return "InvalidArgumentError";
    case ErrorCode::kInvalidInput: return "InvalidInputError";
    case ErrorCode::kInvalidType: return "InvalidTypeError";
    case ErrorCode::kClosed: return "SessionClosedError";
    case ErrorCode::kOrt: return "OrtError";
    case ErrorCode::kQueueFull: return "QueueFullError";
    case ErrorCode::kTimeout: return "RequestTimeoutError";
    case ErrorCode::kCancelled: return "CancelledError";
    case ErrorCode::kSchedulerClosed: return "SchedulerClosedError";
    case ErrorCode::kTerminated: return "RunTerminatedError";
  }
  return "Error";
}

void throw_error(ErrorCode code, const std::string& message, int ort_code) {
  switch (code) {
    case ErrorCode::kRuntimeLoad: throw RuntimeLoadError(message, ort_code);
    case ErrorCode::kModelLoad: throw ModelLoadError(message, ort_code);
    case ErrorCode::kInvalidArgument: throw InvalidArgumentError(message, ort_code);
    case ErrorCode::kInvalidInput: throw InvalidInputError(message, ort_code);
    case ErrorCode::kInvalidType: throw InvalidTypeError(message, ort_code);
    case ErrorCode::kClosed: throw SessionClosedError(message, ort_code);
    case ErrorCode::kOrt: throw OrtError(message, ort_code);
    case ErrorCode::kQueueFull: throw QueueFullError(message, ort_code);
    case ErrorCode::kTimeout: throw RequestTimeoutError(message, ort_code);
    case ErrorCode::kCancelled: throw CancelledError(message, ort_code);
    case ErrorCode::kSchedulerClosed: throw SchedulerClosedError(message, ort_code);
    case ErrorCode::kTerminated: throw RunTerminatedError(message, ort_code);
  }
  throw Error(code, message, ort_code);
}

}  // namespace ortnative
