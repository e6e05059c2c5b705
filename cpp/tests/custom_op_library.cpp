// Test-only: a custom op library, as ONNX Runtime loads them (OrtApi::
// RegisterCustomOpsLibrary_V2 dlopens it and calls RegisterCustomOps), so the C++ tests can
// register one without Python (onnxruntime-extensions' library needs libpython). One op:
// ortnative.test::Negate, y = -x over float32 tensors of any shape.
#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>

namespace {

struct NegateKernel {
  void Compute(OrtKernelContext* context) {
    Ort::KernelContext ctx(context);
    Ort::ConstValue x = ctx.GetInput(0);
    const std::vector<int64_t> shape = x.GetTensorTypeAndShapeInfo().GetShape();
    Ort::UnownedValue y = ctx.GetOutput(0, shape);
    const float* in = x.GetTensorData<float>();
    float* out = y.GetTensorMutableData<float>();
    const std::size_t n = x.GetTensorTypeAndShapeInfo().GetElementCount();
    for (std::size_t i = 0; i < n; ++i) out[i] = -in[i];
  }
};

struct NegateOp : Ort::CustomOpBase<NegateOp, NegateKernel> {
  void* CreateKernel(const OrtApi&, const OrtKernelInfo*) const { return new NegateKernel; }
  const char* GetName() const { return "Negate"; }
  std::size_t GetInputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetInputType(std::size_t) const {
    return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
  std::size_t GetOutputTypeCount() const { return 1; }
  ONNXTensorElementDataType GetOutputType(std::size_t) const {
    return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
  }
};

}  // namespace

extern "C" {
#if defined(_WIN32)
__declspec(dllexport)
#else
__attribute__((visibility("default")))
#endif
OrtStatus* ORT_API_CALL
RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api) {
  Ort::InitApi(api->GetApi(ORT_API_VERSION));
  static NegateOp op;
  static Ort::CustomOpDomain domain{nullptr};
  try {
    if (!domain) {
      domain = Ort::CustomOpDomain("ortnative.test");
      domain.Add(&op);
    }
    Ort::UnownedSessionOptions(options).Add(domain);
  } catch (const Ort::Exception& e) {
    return Ort::GetApi().CreateStatus(e.GetOrtErrorCode(), e.what());
  }
  return nullptr;
}
}
