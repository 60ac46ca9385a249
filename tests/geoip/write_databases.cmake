# Build step (tests/CMakeLists.txt): writes every database of test_databases.json into OUT_DIR with write_mmdb.pl.
# Usage: cmake -DWRITER=... -DSPEC=... -DOUT_DIR=... -P write_databases.cmake
find_program(PERL perl)
if(NOT PERL)
  message(FATAL_ERROR "perl is not installed (Debian package perl); it writes the test .mmdb files")
endif()
execute_process(COMMAND "${PERL}" -MMaxMind::DB::Writer::Tree -e 1
                RESULT_VARIABLE module_missing ERROR_VARIABLE module_error)
if(module_missing)
  message(FATAL_ERROR "perl module MaxMind::DB::Writer::Tree is missing "
                      "(Debian package libmaxmind-db-writer-perl): ${module_error}")
endif()
file(REMOVE_RECURSE "${OUT_DIR}")
file(MAKE_DIRECTORY "${OUT_DIR}")
execute_process(COMMAND "${PERL}" "${WRITER}" --batch "${SPEC}" --out-dir "${OUT_DIR}"
                RESULT_VARIABLE failed ERROR_VARIABLE writer_error)
if(failed)
  message(FATAL_ERROR "write_mmdb.pl failed: ${writer_error}")
endif()
# The tests use this folder only when the stamp says it is complete.
file(WRITE "${OUT_DIR}/complete" "")
