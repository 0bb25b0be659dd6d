# Extra build rules for test tools (each test/tools/*.cc already gets an executable linking airlock_shim).

# The gRPC task client talks to the shim the way containerd 2.x does. --as-needed keeps the full
# libprotobuf that gRPC's CMake targets drag in off the binary (our messages are lite).
if(TARGET grpc_task_client)
  target_link_libraries(grpc_task_client PRIVATE gRPC::grpc++_unsecure)
  target_link_options(grpc_task_client PRIVATE -Wl,--as-needed)
endif()
# unit_tests runs it (test/unit/grpc_task_client_test.cc).
if(TARGET grpc_task_client AND TARGET unit_tests)
  add_dependencies(unit_tests grpc_task_client)
endif()

# airlock-init (cmd/airlock-init): its unit tests use the helper's core library, and the end-to-end
# tests run the real static binary from build/bin.
target_link_libraries(unit_tests PRIVATE airlock_init_core)
add_dependencies(unit_tests airlock-init airlock_probe airlock)

# airlock run (cmd/airlock/run, cmd/airlock/containerd): the pure parts are unit-tested in process.
target_link_libraries(unit_tests PRIVATE airlock_cli)

# airlock_probe runs under the execution seccomp filter, which denies ptrace: LeakSanitizer needs
# ptrace at exit and would fail every run. Like airlock-init, it stays uninstrumented.
if(AIRLOCK_SANITIZE AND TARGET airlock_probe)
  target_compile_options(airlock_probe PRIVATE -fno-sanitize=all)
  target_link_options(airlock_probe PRIVATE -fno-sanitize=all)
endif()
