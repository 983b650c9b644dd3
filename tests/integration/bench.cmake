# The benchmark smoke test: tools/bench/run --quick against this build tree
# as it is (no rebuild, no Release tree of its own; sanitizers stay on),
# checking correctness only — every task ok, map results equal to their
# items, every queried id and row found, DAG and chain order proven from
# the task database. No timing is asserted; the figures land in
# bench-smoke.json beside this test for whoever wants to look.
add_test(NAME integration_bench
  COMMAND ${CMAKE_SOURCE_DIR}/tools/bench/run --quick --no-build
          --build ${CMAKE_BINARY_DIR}
          --out ${CMAKE_CURRENT_BINARY_DIR}/bench-smoke.json)
set_tests_properties(integration_bench PROPERTIES TIMEOUT 300
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

# tools/bench/compare --peers all at tiny counts (--quick, no Python-API
# workloads: those are test_bench_driver.py's): ipp, IPython Parallel,
# Dask, Celery and beanstalkd each produce their figures and ratios, and
# compare leaves no process behind. Correctness only; skipped when a
# peer's package is missing (tools/setup).
add_test(NAME integration_compare_peers
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/test_compare_peers.sh ${CMAKE_BINARY_DIR}
          ${CMAKE_CURRENT_BINARY_DIR}/compare-peers-smoke.json)
set_tests_properties(integration_compare_peers PROPERTIES TIMEOUT 200 SKIP_RETURN_CODE 77
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

# tools/bench/run --quick --scale against the same tree: the scale figures
# at small counts (a 20,000-task burst, 8 engines, DAGs of 500 and 5,000
# nodes, 200,000 records; under a minute with sanitizers), correctness
# only: every task ok, both DAGs in order from the database, every
# result_status id completed. No timing is asserted.
add_test(NAME integration_bench_scale
  COMMAND ${CMAKE_SOURCE_DIR}/tools/bench/run --quick --scale --no-build
          --build ${CMAKE_BINARY_DIR}
          --out ${CMAKE_CURRENT_BINARY_DIR}/bench-scale-smoke.json)
set_tests_properties(integration_bench_scale PROPERTIES TIMEOUT 300
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
