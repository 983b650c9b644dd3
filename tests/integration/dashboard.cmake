# The dashboard end to end: a real cluster, the ipp-dashboard process, real
# HTTP requests (api), and Debian's headless chromium through chromedriver
# (browser; skipped, saying why, only when the browser cannot start).
# Screenshots of each page go to ${CMAKE_BINARY_DIR}/dashboard-shots.
# Included from tests/integration/CMakeLists.txt.
if(TARGET ipp-dashboard AND TARGET ipp_cli)
  foreach(mode api browser)
    add_test(NAME integration_dashboard_${mode}
      COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_dashboard.py ${mode}
              $<TARGET_FILE:ipp_cli> $<TARGET_FILE:ipp-dashboard>
              ${CMAKE_BINARY_DIR}/dashboard-shots)
    set_tests_properties(integration_dashboard_${mode} PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
      ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endforeach()
endif()
