/* A module for dlopen_trusted's tests (ownership_test.cpp): says which of its two builds it is. */
__attribute__((visibility("default"))) int ap_test_module_id(void) { return AP_TEST_MODULE_ID; }
