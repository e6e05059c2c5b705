# Finds the DLPack header (dlpack/dlpack.h) at configure time, for the Python bindings
# (cpp/python/dlpack_bridge.cpp: tensors from and to other frameworks). The core never
# includes it. DLPack is a header-only ABI; ortnative needs version 1.0 or newer (the
# versioned capsules "dltensor_versioned" that PyTorch >= 2.4, NumPy >= 2.1 and JAX use).
#
# Search order (the first hit wins):
#   1. ORTNATIVE_DLPACK_ROOT, a CMake variable or an environment variable: a directory
#      with dlpack/dlpack.h under it (or under its include/). Given but unusable is an
#      error, not a fallthrough.
#   2. The header in a system include directory (Debian's libdlpack-dev and the like),
#      when it is version 1.0 or newer (bookworm's 0.6 is not).
#   3. A fetch into third_party/_deps/ (ignored by git), unless ORTNATIVE_DLPACK_FETCH is
#      OFF: the pinned wheel of the `apache-tvm-ffi` package, which ships DLPack's header
#      (tvm_ffi/include/dlpack/dlpack.h), downloaded by the build's own Python with
#      `pip download` (so through whatever index pip is configured with; nothing of
#      the package is installed). One fixed wheel (platform and Python tag pinned, so
#      every machine downloads the same file), checked by SHA-256, and the header in it
#      checked by SHA-256 too. pip is in pyproject.toml's build requirements because an
#      isolated build environment (pip wheel, pip install ., python -m build) has none.
#
# Result: ORTNATIVE_DLPACK_INCLUDE_DIR (the directory holding dlpack/dlpack.h).

include_guard(GLOBAL)

set(_ortn_dlpack_package "apache-tvm-ffi==0.1.15.post2")
set(_ortn_dlpack_wheel
    "apache_tvm_ffi-0.1.15.post2-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl")
set(_ortn_dlpack_wheel_args --platform manylinux_2_28_x86_64 --python-version 3.11
                            --implementation cp --abi cp311)
set(_ortn_dlpack_wheel_sha256 "8ecebe749834f6ac0f2693d5964acf9ac75d0bc26e6ba64c46eb7ab00ea50fac")
set(_ortn_dlpack_member "tvm_ffi/include/dlpack/dlpack.h")
set(_ortn_dlpack_header_sha256
    "62052bef24bd69bb7b52e95428f9e99bd7951783850c36c5f2a41e71fd63c2fc") # DLPack 1.3

set(ORTNATIVE_DLPACK_ROOT "$ENV{ORTNATIVE_DLPACK_ROOT}"
    CACHE PATH "Directory holding dlpack/dlpack.h (or include/dlpack/dlpack.h)")
option(ORTNATIVE_DLPACK_FETCH "Fetch the pinned DLPack header when none is installed" ON)

set(_ortn_dlpack_tried "")

# Accepts DIR (holding dlpack/dlpack.h) when the header is DLPack 1.0 or newer.
function(_ortn_dlpack_try how dir)
  set(h "${dir}/dlpack/dlpack.h")
  if(NOT EXISTS "${h}")
    list(APPEND _ortn_dlpack_tried "${how}: no dlpack/dlpack.h in ${dir}")
  else()
    file(STRINGS "${h}" line REGEX "^#define DLPACK_MAJOR_VERSION [0-9]+")
    string(REGEX REPLACE "^#define DLPACK_MAJOR_VERSION ([0-9]+).*" "\\1" major "${line}")
    if(NOT line OR major LESS 1)
      list(APPEND _ortn_dlpack_tried "${how}: ${h} is older than DLPack 1.0")
    else()
      set(ORTNATIVE_DLPACK_INCLUDE_DIR "${dir}" PARENT_SCOPE)
      message(STATUS "ortnative: DLPack header (major version ${major}) from ${how}: ${dir}")
    endif()
  endif()
  set(_ortn_dlpack_tried "${_ortn_dlpack_tried}" PARENT_SCOPE)
endfunction()

# Downloads the pinned wheel with pip and copies the header out of it into DEST.
function(_ortn_dlpack_fetch dest ok_out why_out)
  set(${ok_out} FALSE PARENT_SCOPE)
  find_package(Python COMPONENTS Interpreter QUIET)
  if(NOT Python_Interpreter_FOUND)
    set(${why_out} "no Python interpreter to run pip with" PARENT_SCOPE)
    return()
  endif()
  set(work "${CMAKE_CURRENT_LIST_DIR}/_deps/dlpack-fetch")
  file(REMOVE_RECURSE "${work}")
  file(MAKE_DIRECTORY "${work}")
  message(STATUS "ortnative: fetching ${_ortn_dlpack_package} (for DLPack's header) with pip")
  execute_process(
    COMMAND "${Python_EXECUTABLE}" -m pip download --no-deps --only-binary=:all:
            ${_ortn_dlpack_wheel_args} --dest "${work}" "${_ortn_dlpack_package}"
    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  set(wheel "${work}/${_ortn_dlpack_wheel}")
  if(NOT rc EQUAL 0 OR NOT EXISTS "${wheel}")
    string(STRIP "${err}" err)
    file(REMOVE_RECURSE "${work}")
    set(${why_out} "pip download failed: ${err}" PARENT_SCOPE)
    return()
  endif()
  file(SHA256 "${wheel}" got)
  if(NOT got STREQUAL _ortn_dlpack_wheel_sha256)
    file(REMOVE_RECURSE "${work}")
    set(${why_out} "${_ortn_dlpack_wheel}: SHA-256 ${got}, pinned ${_ortn_dlpack_wheel_sha256}"
        PARENT_SCOPE)
    return()
  endif()
  file(ARCHIVE_EXTRACT INPUT "${wheel}" DESTINATION "${work}/unpack"
       PATTERNS "${_ortn_dlpack_member}")
  set(header "${work}/unpack/${_ortn_dlpack_member}")
  if(NOT EXISTS "${header}")
    file(REMOVE_RECURSE "${work}")
    set(${why_out} "the wheel has no ${_ortn_dlpack_member}" PARENT_SCOPE)
    return()
  endif()
  file(SHA256 "${header}" got)
  if(NOT got STREQUAL _ortn_dlpack_header_sha256)
    file(REMOVE_RECURSE "${work}")
    set(${why_out} "${_ortn_dlpack_member}: SHA-256 ${got}, pinned ${_ortn_dlpack_header_sha256}"
        PARENT_SCOPE)
    return()
  endif()
  file(MAKE_DIRECTORY "${dest}/dlpack")
  file(COPY "${header}" DESTINATION "${dest}/dlpack")
  file(REMOVE_RECURSE "${work}")
  set(${ok_out} TRUE PARENT_SCOPE)
  set(${why_out} "" PARENT_SCOPE)
endfunction()

unset(ORTNATIVE_DLPACK_INCLUDE_DIR)

# 1. a root the user gave: must work.
if(ORTNATIVE_DLPACK_ROOT)
  if(EXISTS "${ORTNATIVE_DLPACK_ROOT}/include/dlpack/dlpack.h")
    _ortn_dlpack_try("ORTNATIVE_DLPACK_ROOT" "${ORTNATIVE_DLPACK_ROOT}/include")
  else()
    _ortn_dlpack_try("ORTNATIVE_DLPACK_ROOT" "${ORTNATIVE_DLPACK_ROOT}")
  endif()
  if(NOT ORTNATIVE_DLPACK_INCLUDE_DIR)
    string(REPLACE ";" "\n  " tried "${_ortn_dlpack_tried}")
    message(FATAL_ERROR "ortnative: ORTNATIVE_DLPACK_ROOT is set but unusable:\n  ${tried}")
  endif()
endif()

# 2. the system's.
if(NOT ORTNATIVE_DLPACK_INCLUDE_DIR)
  find_path(_ortn_dlpack_sys dlpack/dlpack.h NO_CACHE)
  if(_ortn_dlpack_sys)
    _ortn_dlpack_try("system include path" "${_ortn_dlpack_sys}")
  else()
    list(APPEND _ortn_dlpack_tried "system include path: no dlpack/dlpack.h")
  endif()
endif()

# 3. the pinned fetch (reused when already there and intact).
if(NOT ORTNATIVE_DLPACK_INCLUDE_DIR)
  set(_ortn_dlpack_dir "${CMAKE_CURRENT_LIST_DIR}/_deps/dlpack/include")
  set(_ortn_dlpack_ok FALSE)
  if(EXISTS "${_ortn_dlpack_dir}/dlpack/dlpack.h")
    file(SHA256 "${_ortn_dlpack_dir}/dlpack/dlpack.h" _ortn_dlpack_sum)
    if(_ortn_dlpack_sum STREQUAL _ortn_dlpack_header_sha256)
      set(_ortn_dlpack_ok TRUE)
    endif()
  endif()
  if(NOT _ortn_dlpack_ok AND ORTNATIVE_DLPACK_FETCH)
    file(REMOVE_RECURSE "${_ortn_dlpack_dir}")
    _ortn_dlpack_fetch("${_ortn_dlpack_dir}" _ortn_dlpack_ok _ortn_dlpack_why)
    if(NOT _ortn_dlpack_ok)
      list(APPEND _ortn_dlpack_tried "${_ortn_dlpack_package} wheel: ${_ortn_dlpack_why}")
    endif()
  elseif(NOT _ortn_dlpack_ok)
    list(APPEND _ortn_dlpack_tried "fetch: disabled (ORTNATIVE_DLPACK_FETCH=OFF)")
  endif()
  if(_ortn_dlpack_ok)
    _ortn_dlpack_try("pinned fetch" "${_ortn_dlpack_dir}")
  endif()
endif()

if(NOT ORTNATIVE_DLPACK_INCLUDE_DIR)
  string(REPLACE ";" "\n  " tried "${_ortn_dlpack_tried}")
  message(FATAL_ERROR
    "ortnative: no DLPack header (1.0 or newer) found.\nTried, in order:\n  ${tried}\n"
    "Fix: point ORTNATIVE_DLPACK_ROOT (environment or -D) at a directory with "
    "dlpack/dlpack.h, e.g. an unpacked DLPack release's include/.")
endif()
