// Test-only: writes small ONNX models as protobuf bytes, so the C++ tests make their
// models on the fly with no Python and no files in the repository.
//
// Only the handful of ModelProto fields the tests need are written (field numbers
// from onnx.proto): ir_version 1, producer_name 2, graph 7, opset_import 8; GraphProto
// node 1, name 2, initializer 5, input 11, output 12; NodeProto input 1, output 2,
// op_type 4; ValueInfoProto name 1, type 2; TypeProto tensor_type 1;
// TypeProto.Tensor elem_type 1, shape 2; TensorShapeProto dim 1; Dimension dim_value
// 1, dim_param 2; TensorProto dims 1, data_type 2, name 8, raw_data 9.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "proto_writer.hpp"

namespace ortnative::test {

using Proto = ortnative::detail::ProtoWriter;

// A dimension: a number, or a symbolic name when NAME is non-empty.
struct Dim {
  int64_t value = -1;
  std::string name;
};

inline Proto value_info(const std::string& name, int elem_type, const std::vector<Dim>& dims) {
  Proto shape;
  for (const Dim& d : dims) {
    Proto dim;
    if (d.name.empty()) {
      dim.varint(1, static_cast<uint64_t>(d.value));
    } else {
      dim.bytes(2, d.name);
    }
    shape.message(1, dim);
  }
  Proto tensor;
  tensor.varint(1, static_cast<uint64_t>(elem_type)).message(2, shape);
  Proto type;
  type.message(1, tensor);
  Proto vi;
  vi.bytes(1, name).message(2, type);
  return vi;
}

inline Proto node(const std::string& op, const std::vector<std::string>& inputs,
                  const std::vector<std::string>& outputs) {
  Proto n;
  for (const auto& i : inputs) n.bytes(1, i);
  for (const auto& o : outputs) n.bytes(2, o);
  n.bytes(4, op);
  return n;
}

inline Proto float_initializer(const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<float>& values) {
  Proto t;
  for (int64_t d : dims) t.varint(1, static_cast<uint64_t>(d));
  t.varint(2, 1);  // FLOAT
  t.bytes(8, name);
  std::string raw(values.size() * sizeof(float), '\0');
  std::memcpy(raw.data(), values.data(), raw.size());
  t.bytes(9, raw);
  return t;
}

inline std::string model(const Proto& graph, int opset = 17) {
  Proto opset_id;
  opset_id.bytes(1, "").varint(2, static_cast<uint64_t>(opset));
  Proto m;
  m.varint(1, 8).bytes(2, "ortnative-tests").message(7, graph).message(8, opset_id);
  return m.str();
}

// y = x + c with x: float32 [N, 4], c = (1, 2, 3, 4); plus z = Identity(x).
inline std::string add_model() {
  Proto g;
  g.message(1, node("Add", {"x", "c"}, {"y"}));
  g.message(1, node("Identity", {"x"}, {"z"}));
  g.bytes(2, "add");
  g.message(5, float_initializer("c", {4}, {1, 2, 3, 4}));
  g.message(11, value_info("x", 1, {{-1, "N"}, {4, ""}}));
  g.message(12, value_info("y", 1, {{-1, "N"}, {4, ""}}));
  g.message(12, value_info("z", 1, {{-1, "N"}, {4, ""}}));
  return model(g);
}

// out = Concat(a, b, axis 0) over int64 vectors, to test several inputs and non-float.
inline std::string concat_model() {
  Proto attr;  // AttributeProto: name 1, i 3, type 20 (INT = 2)
  attr.bytes(1, "axis").varint(3, 0).varint(20, 2);
  Proto n = node("Concat", {"a", "b"}, {"out"});
  n.message(5, attr);
  Proto g;
  g.message(1, n);
  g.bytes(2, "concat");
  g.message(11, value_info("a", 7, {{-1, "A"}}));
  g.message(11, value_info("b", 7, {{-1, "B"}}));
  g.message(12, value_info("out", 7, {{-1, "C"}}));
  return model(g);
}

}  // namespace ortnative::test
