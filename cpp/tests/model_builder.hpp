// Test-only: writes small ONNX models as protobuf bytes, so the C++ tests make their
// models on the fly with no Python and no files in the repository.
//
// Only the handful of ModelProto fields the tests need are written (field numbers
// from onnx.proto): ir_version 1, producer_name 2, graph 7, opset_import 8; GraphProto
// node 1, name 2, initializer 5, input 11, output 12; NodeProto input 1, output 2,
// op_type 4, attribute 5, domain 7; AttributeProto name 1, g 6, ints 8, type 20;
// ValueInfoProto name 1, type 2; TypeProto tensor_type 1, sequence_type 4, map_type 5;
// TypeProto.Tensor elem_type 1, shape 2; Sequence elem_type 1; Map key_type 1,
// value_type 2; TensorShapeProto dim 1; Dimension dim_value 1, dim_param 2,
// denotation 3; TensorProto dims 1, data_type 2, name 8, raw_data 9, external_data 13,
// data_location 14; StringStringEntryProto key 1, value 2.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "proto_writer.hpp"

namespace ortnative::test {

using Proto = ortnative::detail::ProtoWriter;

// A dimension: a number, or a symbolic name when NAME is non-empty; DENOTATION, if any,
// is the dimension's denotation ("DATA_BATCH", ...).
struct Dim {
  int64_t value = -1;
  std::string name;
  std::string denotation;
  Dim(int64_t v, std::string n, std::string d = "")
      : value(v), name(std::move(n)), denotation(std::move(d)) {}
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
    if (!d.denotation.empty()) dim.bytes(3, d.denotation);
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

inline std::string model(const Proto& graph, int opset = 17,
                         const std::vector<std::pair<std::string, int>>& more_opsets = {}) {
  Proto opset_id;
  opset_id.bytes(1, "").varint(2, static_cast<uint64_t>(opset));
  Proto m;
  m.varint(1, 8).bytes(2, "ortnative-tests").message(7, graph).message(8, opset_id);
  for (const auto& [domain, version] : more_opsets) {
    Proto extra;
    extra.bytes(1, domain).varint(2, static_cast<uint64_t>(version));
    m.message(8, extra);
  }
  return m.str();
}

// y = x + w with x, y: float32 [2, 2] and w = (1, 2, 3, 4) kept as external data: in
// file LOCATION, from byte 0 (the data it must hold: external_weights()).
inline std::string external_data_model(const std::string& location) {
  Proto entry;
  entry.bytes(1, "location").bytes(2, location);
  Proto w;
  w.varint(1, 2).varint(1, 2).varint(2, 1).bytes(8, "w").message(13, entry).varint(14, 1);
  Proto g;
  g.message(1, node("Add", {"x", "w"}, {"y"}));
  g.bytes(2, "external");
  g.message(5, w);
  g.message(11, value_info("x", 1, {{2, ""}, {2, ""}}));
  g.message(12, value_info("y", 1, {{2, ""}, {2, ""}}));
  return model(g);
}

inline std::string external_weights() {
  const float w[4] = {1, 2, 3, 4};
  return std::string(reinterpret_cast<const char*>(w), sizeof w);
}

// y = Loop(n) { x = Tanh(MatMul(x, w)) } over x: float32 [64, 64]: n (an int64 scalar)
// iterations, for as long a run as a test needs.
inline std::string loop_model() {
  Proto graph_attr;  // AttributeProto: name 1, g 6, type 20 (GRAPH = 5)
  Proto body;
  body.message(1, node("MatMul", {"x_in", "w"}, {"m"}));
  body.message(1, node("Tanh", {"m"}, {"x_out"}));
  body.message(1, node("Identity", {"cond_in"}, {"cond_out"}));
  body.bytes(2, "body");
  body.message(11, value_info("i", 7, {}));
  body.message(11, value_info("cond_in", 9, {}));
  body.message(11, value_info("x_in", 1, {{64, ""}, {64, ""}}));
  body.message(12, value_info("cond_out", 9, {}));
  body.message(12, value_info("x_out", 1, {{64, ""}, {64, ""}}));
  graph_attr.bytes(1, "body").message(6, body).varint(20, 5);
  Proto loop = node("Loop", {"n", "", "x"}, {"y"});
  loop.message(5, graph_attr);
  std::vector<float> w(64 * 64);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = (i % 7 == 0 ? 0.1f : -0.01f);
  Proto g;
  g.message(1, loop);
  g.bytes(2, "loop");
  g.message(5, float_initializer("w", {64, 64}, w));
  g.message(11, value_info("x", 1, {{64, ""}, {64, ""}}));
  g.message(11, value_info("n", 7, {}));
  g.message(12, value_info("y", 1, {{64, ""}, {64, ""}}));
  return model(g);
}

// As loop_model, batchable: x, y float32 [N, 64] and n int64 [N]; the Loop runs
// ReduceMax(n) times, so a batch runs as long as its longest request asks.
inline std::string batch_loop_model() {
  Proto graph_attr;
  Proto body;
  body.message(1, node("MatMul", {"x_in", "w"}, {"m"}));
  body.message(1, node("Tanh", {"m"}, {"x_out"}));
  body.message(1, node("Identity", {"cond_in"}, {"cond_out"}));
  body.bytes(2, "body");
  body.message(11, value_info("i", 7, {}));
  body.message(11, value_info("cond_in", 9, {}));
  body.message(11, value_info("x_in", 1, {{-1, "N"}, {64, ""}}));
  body.message(12, value_info("cond_out", 9, {}));
  body.message(12, value_info("x_out", 1, {{-1, "N"}, {64, ""}}));
  graph_attr.bytes(1, "body").message(6, body).varint(20, 5);
  Proto keepdims;  // AttributeProto: name 1, i 3, type 20 (INT = 2)
  keepdims.bytes(1, "keepdims").varint(3, 0).varint(20, 2);
  Proto reduce = node("ReduceMax", {"n"}, {"trips"});
  reduce.message(5, keepdims);
  Proto loop = node("Loop", {"trips", "", "x"}, {"y"});
  loop.message(5, graph_attr);
  std::vector<float> w(64 * 64);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = (i % 7 == 0 ? 0.1f : -0.01f);
  Proto g;
  g.message(1, reduce);
  g.message(1, loop);
  g.bytes(2, "batch_loop");
  g.message(5, float_initializer("w", {64, 64}, w));
  g.message(11, value_info("x", 1, {{-1, "N"}, {64, ""}}));
  g.message(11, value_info("n", 7, {{-1, "N"}}));
  g.message(12, value_info("y", 1, {{-1, "N"}, {64, ""}}));
  return model(g);
}

// probabilities = ZipMap(p) over p: float32 [N, 2], with class labels 10 and 20: a
// sequence of maps from int64 to float, as scikit-learn classifiers converted by skl2onnx
// return them.
inline std::string zipmap_model() {
  Proto labels;  // AttributeProto: name 1, ints 8, type 20 (INTS = 7)
  labels.bytes(1, "classlabels_int64s").varint(8, 10).varint(8, 20).varint(20, 7);
  Proto n = node("ZipMap", {"p"}, {"probabilities"});
  n.message(5, labels).bytes(7, "ai.onnx.ml");
  Proto value;  // TypeProto: tensor_type 1, sequence_type 4, map_type 5
  Proto value_tensor;
  value_tensor.varint(1, 1);
  value.message(1, value_tensor);
  Proto map;
  map.varint(1, 7).message(2, value);
  Proto map_type;
  map_type.message(5, map);
  Proto seq;
  seq.message(1, map_type);
  Proto seq_type;
  seq_type.message(4, seq);
  Proto out;
  out.bytes(1, "probabilities").message(2, seq_type);
  Proto g;
  g.message(1, n);
  g.bytes(2, "zipmap");
  g.message(11, value_info("p", 1, {{-1, "N"}, {2, ""}}));
  g.message(12, out);
  return model(g, 17, {{"ai.onnx.ml", 1}});
}

// y = Negate(x) over x: float32 [N], the custom op of custom_op_library.cpp (domain
// ortnative.test).
inline std::string negate_model() {
  Proto n = node("Negate", {"x"}, {"y"});
  n.bytes(7, "ortnative.test");
  Proto g;
  g.message(1, n);
  g.bytes(2, "custom");
  g.message(11, value_info("x", 1, {{-1, "N"}}));
  g.message(12, value_info("y", 1, {{-1, "N"}}));
  return model(g, 17, {{"ortnative.test", 1}});
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
