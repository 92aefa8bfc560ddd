#ifndef CLIBFUZZER_H
#define CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer's driver (flags, corpus, mutation loop) with `callback` as the fuzz target; returns its exit code.
///
/// SwiftPM renames an executable's entry point to `<Module>_main` and links `main` to it, so libFuzzer's own `main`
/// is never linked: each target's `@main` calls this instead (libFuzzer's documented LLVMFuzzerRunDriver).
int alipay_fuzz_run(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size));

#endif
