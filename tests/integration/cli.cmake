# Suites of the `ipp` command line: the real ipp binary (target ipp_cli)
# run as a child process against clusters it starts itself in a temporary
# $IPP_DIR. Included from tests/integration/CMakeLists.txt.
add_executable(test_cli ${CMAKE_CURRENT_LIST_DIR}/test_cli.c)
target_link_libraries(test_cli PRIVATE ipp_proto util PkgConfig::CHECK PkgConfig::SQLITE
                      PkgConfig::JANSSON)
target_compile_definitions(test_cli PRIVATE
  IPP_CLI_BIN="$<TARGET_FILE:ipp_cli>"
  IPP_EXAMPLES_DIR="${CMAKE_SOURCE_DIR}/examples")
add_dependencies(test_cli ipp_cli ipp-controller ipp-engine)
add_test(NAME integration_cli COMMAND test_cli)
set_tests_properties(integration_cli PROPERTIES TIMEOUT 300
  ENVIRONMENT "CK_DEFAULT_TIMEOUT=120;ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

# The README's "Using it" commands, run in order as a newcomer would.
add_test(NAME integration_cli_readme
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_cli_readme.sh ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR})
set_tests_properties(integration_cli_readme PROPERTIES TIMEOUT 240
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")

# tools/setup for a user who is not root, without sudo.
add_test(NAME integration_cli_setup
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_cli_setup.sh ${CMAKE_SOURCE_DIR})
set_tests_properties(integration_cli_setup PROPERTIES TIMEOUT 30)

# CurveZMQ end to end: keys, roles, refusals, the audit's key names.
add_executable(curve_peer ${CMAKE_CURRENT_LIST_DIR}/curve_peer.c)
target_link_libraries(curve_peer PRIVATE ipp_client)
add_test(NAME integration_curve
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_curve.sh $<TARGET_FILE_DIR:ipp-controller>
          $<TARGET_FILE_DIR:ipp-engine> $<TARGET_FILE:ipp_cli> $<TARGET_FILE:ipp-query>
          $<TARGET_FILE:curve_peer>)
set_tests_properties(integration_curve PROPERTIES TIMEOUT 180
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")

# Peers on the controller's host over ipc://, others (and IPP_TRANSPORT=tcp)
# over TCP; socket files across a kill -9 and --no-ipc.
add_test(NAME integration_ipc
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_ipc.sh $<TARGET_FILE_DIR:ipp-controller>
          $<TARGET_FILE_DIR:ipp-engine> $<TARGET_FILE:ipp_cli>)
set_tests_properties(integration_ipc PROPERTIES TIMEOUT 120
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")

# CurveZMQ between two hosts: a network namespace joined by a veth pair,
# a capture on the veth (tcpdump). Skipped (77) where namespaces are refused.
add_test(NAME integration_netns
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_netns.sh $<TARGET_FILE_DIR:ipp-controller>
          $<TARGET_FILE_DIR:ipp-engine> $<TARGET_FILE:ipp_cli>)
set_tests_properties(integration_netns PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")

# Engine sets with the real launchers (mpiexec, a Slurm of the test's own,
# sshd in a network namespace); each section skips, saying why, only when
# its tools are missing.
add_test(NAME integration_launchers
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_launchers.sh $<TARGET_FILE:ipp_cli>
          $<TARGET_FILE:ipp-controller> $<TARGET_FILE:ipp-engine>)
set_tests_properties(integration_launchers PROPERTIES TIMEOUT 240
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")

# Local engines restarted after SIGKILL under the same engine id.
add_test(NAME integration_cluster_restart
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/test_restart.sh $<TARGET_FILE:ipp_cli>
          $<TARGET_FILE:ipp-controller> $<TARGET_FILE:ipp-engine>)
set_tests_properties(integration_cluster_restart PROPERTIES TIMEOUT 120
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")
