#!/usr/bin/env bash
# Sanitizer passes over ortnative. Clean runs are the bar.
#
#   tools/sanitize.sh [cpp-asan] [cpp-tsan] [py-asan]     (default: all three)
#
# cpp-asan  the C++ tests built with AddressSanitizer + UndefinedBehaviorSanitizer,
#           warnings as errors, leak checking on (tools/sanitizers/lsan.supp).
# cpp-tsan  the C++ tests (session and scheduler concurrency) built with
#           ThreadSanitizer (tools/sanitizers/tsan.supp). ORT's pools are sized 1:
#           ORT is not instrumented, and its worker threads' synchronisation is
#           invisible to TSan; the threads that race here are ours.
# py-asan   the extension built with ASan + UBSan into build/asan-venv, the pytest
#           suite run with the sanitizer runtime preloaded into an uninstrumented
#           Python (PYTHONMALLOC=malloc so ASan sees every allocation); the logs are
#           then checked by tools/sanitizers/asan_report.py: any memory error, or any
#           leak through ortnative's code, fails (the interpreter's own are listed).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SUPP=$ROOT/tools/sanitizers
PY=${PYTHON:-python}
passes=("$@")
[ ${#passes[@]} -eq 0 ] && passes=(cpp-asan cpp-tsan py-asan)

cpp_asan() {
  echo "== C++ tests, ASan + UBSan"
  cmake --preset asan >/dev/null
  cmake --build --preset asan --parallel 2
  ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1" \
  LSAN_OPTIONS="suppressions=$SUPP/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    ctest --preset asan
}

cpp_tsan() {
  echo "== C++ tests, TSan"
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan --parallel 2
  ORTNATIVE_INTRA_OP_THREADS=1 ORTNATIVE_INTER_OP_THREADS=1 \
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$SUPP/tsan.supp" \
    ctest --preset tsan
}

py_asan() {
  echo "== pytest suite against an ASan + UBSan build of the extension"
  local venv=$ROOT/build/asan-venv logs=$ROOT/build/asan-logs
  [ -x "$venv/bin/python" ] || "$PY" -m venv --system-site-packages "$venv"
  "$venv/bin/python" -m pip install --quiet ".[test]" \
    -C cmake.define.ORTNATIVE_SANITIZE="address,undefined" -C cmake.build-type=RelWithDebInfo \
    -C build-dir=build/asan-py -C install.strip=false
  rm -rf "$logs" && mkdir -p "$logs"
  local rc=0
  # test_cpp.py builds and runs the C++ code with cmake: cpp-asan covers it directly.
  # Tests marked peak_rss prove that a copy is made by a subprocess's peak RSS growth:
  # under ASan's allocator (its quarantine, its reuse of freed chunks) that growth is no
  # measure of a copy (one CI run saw 100 MB for a 256 MB copy); the normal run has them.
  # Leaks do not change exit codes here (LSAN exitcode=0): the interpreter has its own
  # at exit; asan_report.py below judges the logs instead.
  LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
  ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:log_path=$logs/asan:detect_odr_violation=0" \
  LSAN_OPTIONS="exitcode=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan" \
  PYTHONMALLOC=malloc \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider --ignore=tests/test_cpp.py \
      -m "not peak_rss" "${PYTEST_ARGS[@]}" || rc=$?
  "$PY" "$SUPP/asan_report.py" "$logs" || rc=1
  return $rc
}

# The C++ tests load the libonnxruntime of the onnxruntime package: make sure it is there.
"$PY" -c "import onnxruntime" 2>/dev/null || "$PY" -m pip install --quiet "onnxruntime>=1.21,<2"

PYTEST_ARGS=()
for p in "${passes[@]}"; do
  case "$p" in
    cpp-asan) cpp_asan ;;
    cpp-tsan) cpp_tsan ;;
    py-asan) py_asan ;;
    *) echo "unknown pass: $p (cpp-asan, cpp-tsan, py-asan)" >&2; exit 2 ;;
  esac
done
echo "sanitizers: clean (${passes[*]})"
