# ipp-query's integration suites (included from tests/integration/CMakeLists.txt):
# the real ipp-query, ipp-controller and ipp-engine binaries as child processes.
#   integration_query      every subcommand online and offline, every format,
#                          --label, verify on an intact and a tampered database
#   integration_query_cli  --help, usage errors, unreachable controller,
#                          missing or foreign database files
#   integration_query_pictures  gantt and dag on two engines and a workflow
#                          with a failing node: the SVG parsed by python3's
#                          XML parser, the refusals (no match, unwritable
#                          file, no file)
# ASan's exit status is moved off 1 (ipp-query's "a task failed") so a
# sanitizer report can never pass for an expected exit status.
if(TARGET ipp-query)
  foreach(suite query query_cli query_pictures)
    add_executable(test_${suite} test_${suite}.c test_query_util.c)
    target_link_libraries(test_${suite} PRIVATE ipp_harness PkgConfig::JANSSON)
    target_compile_definitions(test_${suite} PRIVATE
      IPP_QUERY_BIN="$<TARGET_FILE:ipp-query>")
    add_dependencies(test_${suite} ipp-query ipp-controller ipp-engine)
    add_test(NAME integration_${suite} COMMAND test_${suite})
    set_tests_properties(integration_${suite} PROPERTIES TIMEOUT 240
      ENVIRONMENT "CK_DEFAULT_TIMEOUT=120;ASAN_OPTIONS=detect_leaks=1:exitcode=99;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endforeach()
endif()

