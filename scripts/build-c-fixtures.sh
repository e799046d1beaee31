#!/bin/sh
# Rebuilds the committed C fixtures (test/fixtures/c/*.wasm) with Debian's clang-14, lld-14, wasi-libc and
# libclang-rt-14-dev-wasm32: demo.c is a command (_start), strings.c a reactor (_initialize) exporting malloc.
set -eu
cd "$(dirname "$0")/../test/fixtures/c"
clang-14 --target=wasm32-wasi -O2 -s -o demo.wasm demo.c
clang-14 --target=wasm32-wasi -O2 -s -mexec-model=reactor -o strings.wasm strings.c
ls -l demo.wasm strings.wasm
