// Generates a large wasm32 module (~500 KB) from WAT: many exported functions, salted so each one is new.
import { compileWat } from '../../dist/wasm/wat.js';

/** One function: a chain of arithmetic on its parameter, long enough to give the module bulk. */
function functionWat(i, salt) {
  const steps = [];
  for (let k = 0; k < 24; k++) steps.push(`(local.set $x (i64.add (i64.mul (local.get $x) (i64.const ${3 + k})) (i64.const ${salt + i * 31 + k})))`);
  return `(func (export "f${i}") (param $x i64) (result i64)\n  ${steps.join('\n  ')}\n  (local.get $x))`;
}

/** A module of `count` functions; `salt` changes every constant, so two salts never share a hash. */
export async function bigModule({ count = 1700, salt = 0 } = {}) {
  const wat = `(module\n${Array.from({ length: count }, (_, i) => functionWat(i, salt)).join('\n')}\n)`;
  return compileWat(wat, `big-${salt}.wat`);
}
