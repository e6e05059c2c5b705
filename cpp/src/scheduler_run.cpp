// Running batches: concatenate requests along dim 0 into a slot's staging buffers, run
// the model once, hand each request its rows of every output; warm-up; the checks that
// decide whether a model can batch. No locks here: a batch belongs to the worker that
// took it, and so does its slot.
#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "messages.hpp"
#include "ortnative/small_array.hpp"
#include "scheduler_impl.hpp"

namespace ortnative::sched {

namespace {

using detail::SmallArray;

// The rows one request (or the warm-up) brings to a batch.
struct Part {
  const InputView* inputs;
  int64_t rows;
};

// Raised when a batch's outputs can't be split by rows; the batch is then retried one
// request at a time, so nobody sees this.
struct CannotSplit {};

std::size_t row_bytes(DType dtype, std::span<const int64_t> shape) {
  std::size_t n = dtype_itemsize(dtype);
  for (std::size_t d = 1; d < shape.size(); ++d) n *= static_cast<std::size_t>(shape[d]);
  return n;
}

// Runs PARTS as one batch of ROWS rows in SLOT; returns each part's outputs. Throws what
// Session::run throws, or CannotSplit.
std::vector<std::vector<RequestOutput>> run_rows(const Model& m, Slot& slot,
                                                 std::span<const Part> parts, int64_t rows,
                                                 const RunOptions* run_options) {
  const Session& s = *m.session;
  const std::size_t n_in = s.inputs().size();
  slot.inputs.resize(n_in);
  slot.shapes.resize(n_in);
  SmallArray<InputView, 16> views(n_in);
  for (std::size_t i = 0; i < n_in; ++i) {
    const TensorView& head = parts[0].inputs[i].tensor;
    const std::size_t row = row_bytes(head.dtype, {head.shape, head.rank});
    const std::size_t need = static_cast<std::size_t>(rows) * row;
    std::vector<std::byte>& buf = slot.inputs[i];
    if (buf.size() < need) {
      buf.resize(std::max(need, static_cast<std::size_t>(m.config.max_batch_size) * row));
    }
    std::size_t offset = 0;
    for (const Part& p : parts) {
      const std::size_t n = static_cast<std::size_t>(p.rows) * row;
      if (n > 0) std::memcpy(buf.data() + offset, p.inputs[i].tensor.data, n);
      offset += n;
    }
    std::vector<int64_t>& shape = slot.shapes[i];
    shape.assign(head.shape, head.shape + head.rank);
    shape[0] = rows;
    views[i] = InputView::of(TensorView{head.dtype, shape.data(), head.rank, buf.data()});
  }

  // Outputs whose shape follows from the inputs go into one fresh block, which the
  // requests' slices then share (no copy out); the others ORT allocates.
  const std::size_t n_out = m.all_outputs.size();
  const std::vector<ValueInfo>& infos = s.outputs();
  std::vector<std::vector<int64_t>> out_shapes(n_out);
  SmallArray<std::size_t, 16> offsets(n_out, 0);
  SmallArray<bool, 16> planned(n_out, false);
  std::size_t total = 0;
  for (std::size_t k = 0; k < n_out; ++k) {
    const ValueInfo& info = infos[k];
    out_shapes[k].resize(info.shape.size());
    const std::size_t item = dtype_itemsize(info.dtype);
    if (info.kind != ValueInfo::Kind::kTensor || item == 0 || info.shape.empty() ||
        !s.planned_output_shape(k, {views.data(), n_in}, out_shapes[k].data())) {
      continue;
    }
    std::size_t bytes = item;
    bool empty = false;
    for (int64_t d : out_shapes[k]) {
      empty = empty || d <= 0;
      bytes *= static_cast<std::size_t>(std::max<int64_t>(d, 0));
    }
    if (empty) continue;
    planned[k] = true;
    offsets[k] = total;
    total += (bytes + 63) / 64 * 64;
  }
  std::shared_ptr<std::byte> block;
  if (total > 0) {
    block.reset(static_cast<std::byte*>(::operator new(total, std::align_val_t{64})),
                [](std::byte* b) { ::operator delete(b, std::align_val_t{64}); });
  }
  SmallArray<OutputBuffer, 16> buffers(n_out);
  for (std::size_t k = 0; k < n_out; ++k) {
    if (!planned[k]) continue;
    buffers[k].view = TensorView{infos[k].dtype, out_shapes[k].data(), out_shapes[k].size(),
                                 block.get() + offsets[k]};
    buffers[k].planned = true;
  }
  SmallArray<Value, 4> results(n_out);
  s.run({views.data(), n_in}, m.all_outputs, {results.data(), n_out}, {buffers.data(), n_out},
        run_options);

  std::vector<std::vector<RequestOutput>> out(parts.size());
  for (auto& o : out) o.resize(n_out);
  for (std::size_t k = 0; k < n_out; ++k) {
    Value& v = results[k];
    if (v.kind() != Value::Kind::kTensor || dtype_itemsize(v.dtype()) == 0 || v.shape().empty() ||
        v.shape()[0] != rows) {
      throw CannotSplit{};
    }
    const std::vector<int64_t> shape(v.shape().begin(), v.shape().end());
    const std::size_t row = row_bytes(v.dtype(), shape);
    const DType dtype = v.dtype();
    std::shared_ptr<const void> owner;
    auto* base = static_cast<std::byte*>(v.data());
    if (planned[k] && v.data() == buffers[k].view.data) {
      owner = std::shared_ptr<const void>(block, block.get());  // ORT wrote into our block
    } else {
      auto held = std::make_shared<Value>(std::move(v));  // ORT's memory, shared as is
      base = static_cast<std::byte*>(held->data());
      owner = std::move(held);
    }
    std::size_t first = 0;
    for (std::size_t j = 0; j < parts.size(); ++j) {
      RequestOutput& o = out[j][k];
      o.slice_dtype = dtype;
      o.slice_shape = shape;
      o.slice_shape[0] = parts[j].rows;
      o.slice_data = row > 0 && base != nullptr ? base + first * row : nullptr;
      o.owner = owner;
      first += static_cast<std::size_t>(parts[j].rows);
    }
  }
  return out;
}

// Runs request P alone with the slot's RUN_OPTIONS. A request cancel() marked is not run
// (finish() ends it cancelled); a run stopped by the cancel of another request of the
// slot's batch is run again.
Ending run_alone(const Model& m, std::unique_ptr<Pending> p, RunOptions& run_options) {
  Ending e;
  e.response.id = p->id;
  for (;;) {
    // Reset first, then look: a cancel() after the look stops this very run.
    run_options.unset_terminate();
    if (p->cancelled.load(std::memory_order_seq_cst)) break;
    e.response.error = nullptr;  // a run stopped by another's cancel is not this one's end
    try {
      const std::size_t n_out = m.all_outputs.size();
      SmallArray<Value, 4> results(n_out);
      m.session->run(p->request.inputs, m.all_outputs, {results.data(), n_out}, {}, &run_options);
      e.response.outputs.resize(n_out);
      for (std::size_t k = 0; k < n_out; ++k) e.response.outputs[k].value = std::move(results[k]);
    } catch (const RunTerminatedError&) {
      e.response.outputs.clear();
      e.response.error = std::current_exception();
      continue;  // its own cancel (then it is not run again), or another's
    } catch (...) {
      e.response.outputs.clear();
      e.response.error = std::current_exception();
    }
    break;
  }
  e.req = std::move(p);
  return e;
}

}  // namespace

void execute(Batch& batch, std::vector<Ending>& endings, bool* retried) {
  const Model& m = *batch.model;
  RunOptions& run_options = batch.staging->run_options;
  if (batch.reqs.size() == 1) {
    endings.push_back(run_alone(m, std::move(batch.reqs[0]), run_options));
    return;
  }
  SmallArray<Part, 64> parts(batch.reqs.size());
  for (std::size_t j = 0; j < batch.reqs.size(); ++j) {
    parts[j] = Part{batch.reqs[j]->request.inputs.data(), batch.reqs[j]->rows};
  }
  std::vector<std::vector<RequestOutput>> outs;
  try {
    outs = run_rows(m, *batch.staging, {parts.data(), parts.size()}, batch.rows, &run_options);
  } catch (...) {
    // Some request made the batch fail (or the outputs can't be split), or a request was
    // cancelled and its batch's run stopped: run each alone (the cancelled not at all),
    // so that each gets its own result or its own error.
    *retried = true;
    for (auto& r : batch.reqs) endings.push_back(run_alone(m, std::move(r), run_options));
    return;
  }
  for (std::size_t j = 0; j < batch.reqs.size(); ++j) {
    Ending& e = endings.emplace_back();
    e.response.id = batch.reqs[j]->id;
    e.response.outputs = std::move(outs[j]);
    e.req = std::move(batch.reqs[j]);
  }
}

void check_batchable(const Model& m) {
  const Session& s = *m.session;
  auto fail = [&](const std::string& what) {
    throw InvalidArgumentError(m.label + ": " + msg::cannot_batch(m.config.max_batch_size, what));
  };
  std::string batch_dim, named_by;
  auto check = [&](const ValueInfo& info, const char* role) {
    const std::string who = std::string(role) + " '" + info.name + "'";
    if (info.kind != ValueInfo::Kind::kTensor || dtype_itemsize(info.dtype) == 0) {
      fail(who + " is not a numeric tensor");
    }
    if (info.shape.empty()) fail(who + " has no dimensions");
    if (info.shape[0] >= 0) fail(who + " has a fixed first dimension: " + format_model_shape(info));
    const std::string& name = info.dim_names[0];
    if (name.empty()) return;
    if (batch_dim.empty()) {
      batch_dim = name;
      named_by = who;
    } else if (name != batch_dim) {
      fail(named_by + " and " + who + " name their first dimensions differently: " + batch_dim +
           " and " + name);
    }
  };
  if (s.inputs().empty()) fail("it has no inputs");
  for (const ValueInfo& info : s.inputs()) check(info, "input");
  for (const ValueInfo& info : s.outputs()) check(info, "output");
}

uint64_t warm_up(Model& m) {
  const Session& s = *m.session;
  const std::vector<ValueInfo>& infos = s.inputs();
  const std::size_t n_in = infos.size();
  std::vector<int> sizes = {1};
  if (m.batching) {
    sizes.insert(sizes.end(), m.preferred.begin(), m.preferred.end());
    sizes.push_back(m.config.max_batch_size);
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  }
  uint64_t runs = 0;
  std::vector<std::vector<int64_t>> shapes(n_in);
  std::vector<std::vector<std::byte>> zeros(n_in);
  std::vector<std::vector<std::string_view>> strings(n_in);
  std::vector<InputView> views(n_in);
  for (int size : sizes) {
    for (std::size_t i = 0; i < n_in; ++i) {
      const ValueInfo& info = infos[i];
      switch (info.kind) {
        case ValueInfo::Kind::kTensor: {
          shapes[i] = info.shape;
          for (std::size_t d = 0; d < shapes[i].size(); ++d) {
            if (shapes[i][d] < 0) shapes[i][d] = d == 0 ? size : 1;
          }
          std::size_t n = 1;
          for (int64_t d : shapes[i]) n *= static_cast<std::size_t>(d);
          void* data = nullptr;
          if (info.dtype == DType::kString) {
            strings[i].assign(n, std::string_view());
            data = strings[i].data();
          } else {
            zeros[i].assign(n * dtype_itemsize(info.dtype), std::byte{0});
            data = zeros[i].data();
          }
          views[i] =
              InputView::of(TensorView{info.dtype, shapes[i].data(), shapes[i].size(), data});
          break;
        }
        case ValueInfo::Kind::kSequence: views[i] = InputView::sequence(nullptr, 0); break;
        case ValueInfo::Kind::kOptional: views[i] = InputView{}; break;
        default: throw InvalidArgumentError(m.label + ": " + msg::warmup_no_value(info));
      }
    }
    for (std::size_t r = 0; r < m.slots.size(); ++r) {
      if (!m.slots[r]) m.slots[r] = std::make_unique<Slot>();
      if (m.batching) {
        const Part part{views.data(), size};
        try {
          run_rows(m, *m.slots[r], {&part, 1}, size, nullptr);
        } catch (const CannotSplit&) {
          throw InvalidArgumentError(m.label + ": " + msg::warmup_cannot_split(size));
        }
      } else {
        SmallArray<Value, 4> results(m.all_outputs.size());
        s.run(views, m.all_outputs, {results.data(), results.size()});
      }
      ++runs;
    }
  }
  return runs;
}

}  // namespace ortnative::sched
