# The Python package's pytest suite, against real clusters it starts.
# Debian's python3-pytest (run as /usr/bin/python3 -m pytest).
execute_process(COMMAND ${Python3_EXECUTABLE} -c "import pytest, cloudpickle"
                RESULT_VARIABLE IPP_PYTEST_MISSING OUTPUT_QUIET ERROR_QUIET)
if(IPP_PYTEST_MISSING)
  message(STATUS "ipp: python3-pytest or python3-cloudpickle missing (tools/setup): "
                 "no python_client test")
  return()
endif()
set(IPP_PYTEST_ENV
  "PYTHONPATH=${CMAKE_BINARY_DIR}/client/python"
  "IPP_BIN=${CMAKE_BINARY_DIR}/tools/ipp/ipp"
  "PYTHONDONTWRITEBYTECODE=1")
if(IPP_ASAN)
  # The extension and libipp carry ASan/UBSan, the interpreter does not:
  # the runtime must be loaded first. Python's allocator is turned off so
  # ASan sees every allocation; leak checking stays off because the
  # interpreter itself does not free everything at exit.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libclang_rt.asan-x86_64.so
                  OUTPUT_VARIABLE IPP_ASAN_RT OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(APPEND IPP_PYTEST_ENV "LD_PRELOAD=${IPP_ASAN_RT}" "PYTHONMALLOC=malloc"
       "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0"
       "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
endif()
add_test(NAME python_client
  COMMAND ${Python3_EXECUTABLE} -m pytest -q -rs -p no:cacheprovider
          ${CMAKE_CURRENT_SOURCE_DIR}/tests)
set_tests_properties(python_client PROPERTIES TIMEOUT 600
  ENVIRONMENT "${IPP_PYTEST_ENV}")
