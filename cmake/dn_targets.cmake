# Target helpers shared by every folder (see shared/docs/style.md §3.7).
include_guard(GLOBAL)

# dn_library(name SRCS a.cc b.cc DEPS x y)
function(dn_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# dn_test(name DEPS ...): name_test.cc beside the calling CMakeLists, one gtest binary,
# registered with ctest as dask-native-<folder>-<name>.
function(dn_test name)
  if(NOT DN_BUILD_TESTS OR DN_FUZZ)
    return()
  endif()
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  string(REPLACE "/" "-" rel "${rel}")
  string(REPLACE "_" "-" tname "${name}")
  set(bin dask-native-${rel}-${tname})
  if(NOT ARG_SRCS)
    set(ARG_SRCS ${name}.cc)
  endif()
  add_executable(${bin} ${ARG_SRCS})
  target_link_libraries(${bin} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  target_compile_definitions(${bin} PRIVATE DN_SHARED_DIR="${DN_SHARED_DIR}"
                                            DN_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  include(GoogleTest)
  gtest_discover_tests(${bin} DISCOVERY_TIMEOUT 60)
endfunction()

# dn_fuzz(name SRCS x_fuzz.cc DEPS ... CORPUS dir-or-glob...): a libFuzzer entry point.
# With DN_FUZZ it links -fsanitize=fuzzer and ctest replays the corpus under ASan+UBSan;
# otherwise it links a replay main so the same corpus also runs in the normal build.
function(dn_fuzz name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;CORPUS" ${ARGN})
  if(NOT DN_BUILD_TESTS AND NOT DN_FUZZ)
    return()
  endif()
  set(bin dn-fuzz-${name})
  add_executable(${bin} ${ARG_SRCS})
  target_link_libraries(${bin} PRIVATE ${ARG_DEPS})
  if(DN_FUZZ)
    target_link_options(${bin} PRIVATE -fsanitize=fuzzer)
    add_test(NAME fuzz-replay-${name}
             COMMAND ${bin} -runs=0 ${ARG_CORPUS})
  else()
    target_sources(${bin} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.cc)
    add_test(NAME fuzz-replay-${name} COMMAND ${bin} ${ARG_CORPUS})
  endif()
endfunction()
