# Finds the ONNX Runtime C API headers at configure time.
#
# ortnative never links libonnxruntime: the core loads it at run time (see
# cpp/src/runtime.cpp). The build needs only the C API header, onnxruntime_c_api.h,
# and it must be version ORTNATIVE_ORT_API_MIN (21, ONNX Runtime 1.21) or newer,
# because the core asks the loaded library for that API version.
#
# Search order (the first hit wins):
#   1. ORTNATIVE_ORT_ROOT, a CMake variable or an environment variable: a directory
#      holding the header somewhere under include/ (an unpacked release archive, a
#      source checkout, a prefix). Given but unusable is an error, not a fallthrough.
#   2. An installed ORT: its CMake package (find_package(onnxruntime CONFIG)) or the
#      header in a system include directory.
#   3. A fetch into third_party/_deps/ (ignored by git), unless ORTNATIVE_ORT_FETCH is
#      OFF: on Debian-family machines Debian's libonnxruntime-dev .deb, downloaded
#      through the machine's own configured apt mirror with a private package list
#      and cache (nothing is installed, no root needed) and unpacked with dpkg-deb;
#      elsewhere the official ONNX Runtime release archive.
#
# What is fetched is pinned: the .deb by version and SHA-256, and, whichever way the
# headers arrived, the headers themselves by SHA-256 (they are byte-identical in the
# Debian package and in the upstream 1.21.0 sources, which is how these sums were
# taken). A fetch that does not match fails the configure.
#
# Result: the variable ORTNATIVE_ORT_INCLUDE_DIR (the directory holding
# onnxruntime_c_api.h) and ORTNATIVE_ORT_HEADER_API (its ORT_API_VERSION).

include_guard(GLOBAL)

set(ORTNATIVE_ORT_API_MIN 21)
set(_ortn_sdk_version "1.21.0")
set(_ortn_deb_package "libonnxruntime-dev")
set(_ortn_deb_version "1.21.0+dfsg-1")
set(_ortn_deb_arch "amd64") # headers are arch-independent; one pinned file serves all
set(_ortn_deb_sha256 "14f7d959d5deacbcf1504830d4189f91fc67382b399ed9ae9d3aa9c4050ced08")
set(_ortn_deb_suite "trixie")
set(_ortn_header_sha256
    "onnxruntime_c_api.h=7783e9664bdb0b1b36145b5c8587dd1bc9a399aa000edf2e3dd03003cafc6882"
    "onnxruntime_cxx_api.h=b3b27d6a6fced0725e3f188379cca008b1d7a456997684756374d4b388f2cf05"
    "onnxruntime_cxx_inline.h=7f448e994c732eacd9e49900365fefa8f1ac998a6d6eb78e5f4aab1b8d9d8900"
    "onnxruntime_float16.h=6c4db3d1954b266c4febe413351af86cac922e3448538e7e452e51d646e56a4a"
    "onnxruntime_session_options_config_keys.h=1fbd110d53e1babe6f00c72b88b48faf2ef86c3b1fea8e0989df8632af5a9e0f"
    "onnxruntime_run_options_config_keys.h=730910e9e78af536d0a4a5a72d408ab793bbe232054a5a4596c8200e45f3c99c")
set(_ortn_release_base
    "https://github.com/microsoft/onnxruntime/releases/download/v${_ortn_sdk_version}")

set(ORTNATIVE_ORT_ROOT "$ENV{ORTNATIVE_ORT_ROOT}"
    CACHE PATH "Directory holding the ONNX Runtime C API headers (under include/)")
option(ORTNATIVE_ORT_FETCH "Fetch the pinned ORT headers when none are installed" ON)

set(_ortn_deps_dir "${CMAKE_CURRENT_LIST_DIR}/_deps")
set(_ortn_tried "")

# Reads ORT_API_VERSION from a header directory into OUT (empty when unreadable).
function(_ortn_header_api dir out)
  set(api "")
  if(EXISTS "${dir}/onnxruntime_c_api.h")
    file(STRINGS "${dir}/onnxruntime_c_api.h" line REGEX "^#define ORT_API_VERSION [0-9]+")
    if(line)
      string(REGEX REPLACE "^#define ORT_API_VERSION ([0-9]+).*" "\\1" api "${line}")
    endif()
  endif()
  set(${out} "${api}" PARENT_SCOPE)
endfunction()

# Accepts DIR when it holds a new enough header; records what was tried either way.
function(_ortn_try_dir how dir)
  _ortn_header_api("${dir}" api)
  if(api STREQUAL "")
    list(APPEND _ortn_tried "${how}: no onnxruntime_c_api.h in ${dir}")
  elseif(api LESS ORTNATIVE_ORT_API_MIN)
    list(APPEND _ortn_tried
         "${how}: ${dir} has ORT_API_VERSION ${api}, need ${ORTNATIVE_ORT_API_MIN} or newer")
  else()
    set(ORTNATIVE_ORT_INCLUDE_DIR "${dir}" PARENT_SCOPE)
    set(ORTNATIVE_ORT_HEADER_API "${api}" PARENT_SCOPE)
    message(STATUS "ortnative: ORT headers (API ${api}) from ${how}: ${dir}")
  endif()
  set(_ortn_tried "${_ortn_tried}" PARENT_SCOPE)
endfunction()

# Finds the directory holding onnxruntime_c_api.h below ROOT (first match, shallowest).
function(_ortn_find_header_below root out)
  set(found "")
  foreach(sub "" include include/onnxruntime include/onnxruntime/core/session)
    if(NOT found AND EXISTS "${root}/${sub}/onnxruntime_c_api.h")
      set(found "${root}/${sub}")
    endif()
  endforeach()
  if(NOT found)
    file(GLOB_RECURSE hits LIST_DIRECTORIES false "${root}/*/onnxruntime_c_api.h")
    if(hits)
      list(SORT hits)
      list(GET hits 0 first)
      get_filename_component(found "${first}" DIRECTORY)
    endif()
  endif()
  string(REGEX REPLACE "/+$" "" found "${found}")
  string(REPLACE "//" "/" found "${found}")
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

# Fails unless every pinned header in DIR has its pinned SHA-256.
function(_ortn_verify_headers dir ok_out why_out)
  foreach(entry IN LISTS _ortn_header_sha256)
    string(REPLACE "=" ";" pair "${entry}")
    list(GET pair 0 name)
    list(GET pair 1 want)
    if(NOT EXISTS "${dir}/${name}")
      set(${ok_out} FALSE PARENT_SCOPE)
      set(${why_out} "${name} missing in ${dir}" PARENT_SCOPE)
      return()
    endif()
    file(SHA256 "${dir}/${name}" got)
    if(NOT got STREQUAL want)
      set(${ok_out} FALSE PARENT_SCOPE)
      set(${why_out} "${dir}/${name}: SHA-256 ${got}, pinned ${want}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${ok_out} TRUE PARENT_SCOPE)
  set(${why_out} "" PARENT_SCOPE)
endfunction()

# Copies the pinned headers from SRC into DEST after verifying them.
function(_ortn_install_headers src dest ok_out why_out)
  _ortn_verify_headers("${src}" ok why)
  if(ok)
    file(MAKE_DIRECTORY "${dest}")
    foreach(entry IN LISTS _ortn_header_sha256)
      string(REGEX REPLACE "=.*" "" name "${entry}")
      file(COPY "${src}/${name}" DESTINATION "${dest}")
    endforeach()
  endif()
  set(${ok_out} ${ok} PARENT_SCOPE)
  set(${why_out} "${why}" PARENT_SCOPE)
endfunction()

# Debian: `apt-get download` through each mirror this machine is configured with.
function(_ortn_fetch_deb dest ok_out why_out)
  set(${ok_out} FALSE PARENT_SCOPE)
  find_program(_ortn_apt_get apt-get)
  find_program(_ortn_dpkg_deb dpkg-deb)
  if(NOT _ortn_apt_get OR NOT _ortn_dpkg_deb)
    set(${why_out} "not a Debian-family machine (no apt-get/dpkg-deb)" PARENT_SCOPE)
    return()
  endif()
  execute_process(
    COMMAND "${_ortn_apt_get}" indextargets --format "$(REPO_URI)"
    OUTPUT_VARIABLE uris RESULT_VARIABLE rc ERROR_QUIET)
  string(REGEX REPLACE "[\r\n]+" ";" uris "${uris}")
  list(REMOVE_DUPLICATES uris)
  list(REMOVE_ITEM uris "")
  if(NOT rc EQUAL 0 OR NOT uris)
    set(${why_out} "apt-get indextargets named no configured mirror" PARENT_SCOPE)
    return()
  endif()
  set(work "${_ortn_deps_dir}/apt")
  set(keyring "/usr/share/keyrings/debian-archive-keyring.gpg")
  set(signed "trusted=yes") # the .deb is checked against its pinned SHA-256 below
  if(EXISTS "${keyring}")
    set(signed "signed-by=${keyring}")
  endif()
  set(why_all "")
  foreach(uri IN LISTS uris)
    file(REMOVE_RECURSE "${work}")
    file(MAKE_DIRECTORY "${work}/lists/partial" "${work}/cache/archives/partial"
         "${work}/dl")
    file(WRITE "${work}/sources.list" "deb [${signed}] ${uri} ${_ortn_deb_suite} main\n")
    set(opts
        -o "Dir::Etc::SourceList=${work}/sources.list"
        -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=${work}/lists"
        -o "Dir::State::Status=/dev/null"
        -o "Dir::Cache=${work}/cache"
        -o "Debug::NoLocking=1"
        -o "APT::Architecture=${_ortn_deb_arch}"
        -o "APT::Architectures::=${_ortn_deb_arch}"
        -o "Acquire::Languages=none"
        -o "APT::Sandbox::User=root")
    message(STATUS "ortnative: fetching ${_ortn_deb_package} ${_ortn_deb_version} from ${uri}")
    execute_process(COMMAND "${_ortn_apt_get}" ${opts} -q update
                    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
    if(rc EQUAL 0)
      execute_process(
        COMMAND "${_ortn_apt_get}" ${opts} -q download
                "${_ortn_deb_package}:${_ortn_deb_arch}=${_ortn_deb_version}"
        WORKING_DIRECTORY "${work}/dl" RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
    endif()
    file(GLOB debs "${work}/dl/*.deb")
    if(rc EQUAL 0 AND debs)
      list(GET debs 0 deb)
      file(SHA256 "${deb}" got)
      if(NOT got STREQUAL _ortn_deb_sha256)
        set(${why_out} "${deb}: SHA-256 ${got}, pinned ${_ortn_deb_sha256}" PARENT_SCOPE)
        return()
      endif()
      execute_process(COMMAND "${_ortn_dpkg_deb}" -x "${deb}" "${work}/root"
                      RESULT_VARIABLE rc ERROR_VARIABLE err)
      if(rc EQUAL 0)
        _ortn_install_headers("${work}/root/usr/include/onnxruntime" "${dest}" ok why)
        file(REMOVE_RECURSE "${work}")
        set(${ok_out} ${ok} PARENT_SCOPE)
        set(${why_out} "${why}" PARENT_SCOPE)
        return()
      endif()
    endif()
    string(STRIP "${err}" err)
    string(APPEND why_all "${uri}: ${err}; ")
  endforeach()
  file(REMOVE_RECURSE "${work}")
  set(${why_out} "no configured mirror served it (${why_all})" PARENT_SCOPE)
endfunction()

# Elsewhere: the official release archive for this platform.
function(_ortn_fetch_release dest ok_out why_out)
  set(${ok_out} FALSE PARENT_SCOPE)
  string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" cpu)
  if(WIN32)
    set(name "onnxruntime-win-x64-${_ortn_sdk_version}")
    set(ext "zip")
  elseif(APPLE)
    set(name "onnxruntime-osx-universal2-${_ortn_sdk_version}")
    set(ext "tgz")
  elseif(cpu MATCHES "aarch64|arm64")
    set(name "onnxruntime-linux-aarch64-${_ortn_sdk_version}")
    set(ext "tgz")
  else()
    set(name "onnxruntime-linux-x64-${_ortn_sdk_version}")
    set(ext "tgz")
  endif()
  set(archive "${_ortn_deps_dir}/${name}.${ext}")
  message(STATUS "ortnative: fetching ${_ortn_release_base}/${name}.${ext}")
  file(DOWNLOAD "${_ortn_release_base}/${name}.${ext}" "${archive}"
       STATUS st TLS_VERIFY ON INACTIVITY_TIMEOUT 60)
  list(GET st 0 code)
  if(NOT code EQUAL 0)
    list(GET st 1 msg)
    file(REMOVE "${archive}")
    set(${why_out} "download failed: ${msg}" PARENT_SCOPE)
    return()
  endif()
  set(unpack "${_ortn_deps_dir}/release-unpack")
  file(REMOVE_RECURSE "${unpack}")
  file(ARCHIVE_EXTRACT INPUT "${archive}" DESTINATION "${unpack}")
  _ortn_find_header_below("${unpack}" src)
  if(NOT src)
    set(${why_out} "archive has no onnxruntime_c_api.h" PARENT_SCOPE)
  else()
    _ortn_install_headers("${src}" "${dest}" ok why)
    set(${ok_out} ${ok} PARENT_SCOPE)
    set(${why_out} "${why}" PARENT_SCOPE)
  endif()
  file(REMOVE_RECURSE "${unpack}" "${archive}")
endfunction()

# --- the search ------------------------------------------------------------------
unset(ORTNATIVE_ORT_INCLUDE_DIR)

# 1. a root the user gave: must work, or the configure stops here.
if(ORTNATIVE_ORT_ROOT)
  _ortn_find_header_below("${ORTNATIVE_ORT_ROOT}" dir)
  if(dir)
    _ortn_try_dir("ORTNATIVE_ORT_ROOT" "${dir}")
  else()
    list(APPEND _ortn_tried "ORTNATIVE_ORT_ROOT: no onnxruntime_c_api.h under ${ORTNATIVE_ORT_ROOT}")
  endif()
  if(NOT ORTNATIVE_ORT_INCLUDE_DIR)
    string(REPLACE ";" "\n  " tried "${_ortn_tried}")
    message(FATAL_ERROR "ortnative: ORTNATIVE_ORT_ROOT is set but unusable:\n  ${tried}")
  endif()
endif()

# 2. an installed ORT: its CMake package, then system include directories.
if(NOT ORTNATIVE_ORT_INCLUDE_DIR)
  find_package(onnxruntime CONFIG QUIET)
  if(TARGET onnxruntime::onnxruntime)
    get_target_property(dirs onnxruntime::onnxruntime INTERFACE_INCLUDE_DIRECTORIES)
    foreach(d IN LISTS dirs)
      if(NOT ORTNATIVE_ORT_INCLUDE_DIR AND d)
        _ortn_find_header_below("${d}" hit)
        if(hit)
          _ortn_try_dir("find_package(onnxruntime) ${onnxruntime_DIR}" "${hit}")
        endif()
      endif()
    endforeach()
  else()
    list(APPEND _ortn_tried "find_package(onnxruntime CONFIG): not found")
  endif()
endif()
if(NOT ORTNATIVE_ORT_INCLUDE_DIR)
  find_path(_ortn_sys_dir onnxruntime_c_api.h
            PATH_SUFFIXES onnxruntime onnxruntime/core/session NO_CACHE)
  if(_ortn_sys_dir)
    _ortn_try_dir("system include path" "${_ortn_sys_dir}")
  else()
    list(APPEND _ortn_tried "system include path: no onnxruntime_c_api.h")
  endif()
endif()

# 3. a pinned fetch into third_party/_deps (reused when already there and intact).
if(NOT ORTNATIVE_ORT_INCLUDE_DIR)
  set(_ortn_fetched "${_ortn_deps_dir}/onnxruntime-${_ortn_sdk_version}/include")
  _ortn_verify_headers("${_ortn_fetched}" _ortn_ok _ortn_why)
  if(NOT _ortn_ok AND ORTNATIVE_ORT_FETCH)
    file(REMOVE_RECURSE "${_ortn_fetched}")
    _ortn_fetch_deb("${_ortn_fetched}" _ortn_ok _ortn_why)
    if(NOT _ortn_ok)
      list(APPEND _ortn_tried "Debian ${_ortn_deb_package} ${_ortn_deb_version}: ${_ortn_why}")
      _ortn_fetch_release("${_ortn_fetched}" _ortn_ok _ortn_why)
      if(NOT _ortn_ok)
        list(APPEND _ortn_tried "ORT ${_ortn_sdk_version} release archive: ${_ortn_why}")
      endif()
    endif()
  elseif(NOT _ortn_ok)
    list(APPEND _ortn_tried "fetch: disabled (ORTNATIVE_ORT_FETCH=OFF)")
  endif()
  if(_ortn_ok)
    _ortn_try_dir("pinned fetch" "${_ortn_fetched}")
  endif()
endif()

if(NOT ORTNATIVE_ORT_INCLUDE_DIR)
  string(REPLACE ";" "\n  " tried "${_ortn_tried}")
  message(FATAL_ERROR
    "ortnative: no ONNX Runtime C API headers (API ${ORTNATIVE_ORT_API_MIN}+) found.\n"
    "Tried, in order:\n  ${tried}\n"
    "Fix: point ORTNATIVE_ORT_ROOT (environment or -D) at an unpacked ONNX Runtime "
    "release or any directory with onnxruntime_c_api.h under include/.")
endif()
