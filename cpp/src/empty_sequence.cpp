// Empty sequences for sequence inputs. ORT's C API makes sequences only from at least
// one tensor (OrtApi::CreateValue), so an empty one comes from running a one-node
// model, SequenceEmpty(dtype), made here once per element type and kept until exit.

#include <map>
#include <mutex>

#include "ort_api.hpp"
#include "proto_writer.hpp"

namespace ortnative::detail {

namespace {

std::string empty_sequence_model(DType dtype) {
  ProtoWriter attr;  // AttributeProto: name 1, i 3, type 20 (INT = 2)
  attr.bytes(1, "dtype").varint(3, static_cast<uint64_t>(dtype)).varint(20, 2);
  ProtoWriter node;  // NodeProto: output 2, op_type 4, attribute 5
  node.bytes(2, "seq").bytes(4, "SequenceEmpty").message(5, attr);
  ProtoWriter tensor;  // TypeProto.Tensor: elem_type 1
  tensor.varint(1, static_cast<uint64_t>(dtype));
  ProtoWriter elem;  // TypeProto: tensor_type 1
  elem.message(1, tensor);
  ProtoWriter seq;  // TypeProto.Sequence: elem_type 1
  seq.message(1, elem);
  ProtoWriter type;  // TypeProto: sequence_type 4
  type.message(4, seq);
  ProtoWriter out;  // ValueInfoProto: name 1, type 2
  out.bytes(1, "seq").message(2, type);
  ProtoWriter graph;  // GraphProto: node 1, name 2, output 12
  graph.message(1, node).bytes(2, "empty_sequence").message(12, out);
  ProtoWriter opset;  // OperatorSetIdProto: domain 1, version 2
  opset.bytes(1, "").varint(2, 17);
  ProtoWriter model;  // ModelProto: ir_version 1, graph 7, opset_import 8
  model.varint(1, 8).message(7, graph).message(8, opset);
  return model.str();
}

}  // namespace

OrtValue* empty_sequence(DType dtype) {
  static std::mutex mu;
  static std::map<DType, OrtSession*>* sessions = new std::map<DType, OrtSession*>();
  const OrtApi& a = api();
  OrtSession* session = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = sessions->find(dtype);
    if (it == sessions->end()) {
      std::string bytes = empty_sequence_model(dtype);
      OrtSessionOptions* so = nullptr;
      check(a.CreateSessionOptions(&so), ErrorCode::kOrt, "making an empty sequence");
      OrtStatus* st = a.DisablePerSessionThreads(so);
      if (st == nullptr) {
        st = a.CreateSessionFromArray(env(), bytes.data(), bytes.size(), so, &session);
      }
      a.ReleaseSessionOptions(so);
      check(st, ErrorCode::kOrt,
            "making an empty sequence of " + std::string(dtype_name(dtype)) + " tensors");
      it = sessions->emplace(dtype, session).first;
    }
    session = it->second;
  }
  const char* name = "seq";
  OrtValue* out = nullptr;
  check(a.Run(session, nullptr, nullptr, nullptr, 0, &name, 1, &out), ErrorCode::kOrt,
        "making an empty sequence");
  return out;
}

}  // namespace ortnative::detail
