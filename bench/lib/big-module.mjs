// Generates a large wasm32 module (~500 KB) from WAT: many functions, salted so each one is new.
import { compileWat } from '../../dist/wasm/wat.js';

/** One function: a chain of arithmetic on its parameter, long enough to give the module bulk. */
function functionWat(i, salt, exported) {
  const steps = [];
  for (let k = 0; k < 24; k++) steps.push(`(local.set $x (i64.add (i64.mul (local.get $x) (i64.const ${3 + k})) (i64.const ${salt + i * 31 + k})))`);
  return `(func $f${i} ${exported ? `(export "f${i}") ` : ''}(param $x i64) (result i64)\n  ${steps.join('\n  ')}\n  (local.get $x))`;
}

/**
 * A module of `count` functions; `salt` changes every constant, so two salts never share a hash. Every
 * `exportEvery`-th function is exported (1: all of them): a program's size is mostly internal functions,
 * and V8 builds every export of an instance when it instantiates, which a job does each time it runs.
 */
export async function bigModule({ count = 1700, salt = 0, exportEvery = 1 } = {}) {
  const wat = `(module\n${Array.from({ length: count }, (_, i) => functionWat(i, salt, i % exportEvery === 7 % exportEvery)).join('\n')}\n)`;
  return compileWat(wat, `big-${salt}.wat`);
}
