# airlock-init (cmd/airlock-init): its unit tests use the helper's core library, and the end-to-end
# tests run the real static binary from build/bin.
target_link_libraries(unit_tests PRIVATE airlock_init_core)
add_dependencies(unit_tests airlock-init airlock_probe)
