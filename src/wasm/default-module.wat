;; The default module of the ~wasm64@1.0 device: what a job runs when it names no module.
;; A memory64 (wasm64) module; build with `npm run wasm`, which writes default-module.wasm beside it.
(module
  (memory (export "memory") i64 1 16)

  ;; Two's-complement i64 arithmetic: add, sub and mul wrap; div and rem trap on a zero divisor.
  (func (export "add") (param $a i64) (param $b i64) (result i64)
    (i64.add (local.get $a) (local.get $b)))
  (func (export "sub") (param $a i64) (param $b i64) (result i64)
    (i64.sub (local.get $a) (local.get $b)))
  (func (export "mul") (param $a i64) (param $b i64) (result i64)
    (i64.mul (local.get $a) (local.get $b)))
  (func (export "div") (param $a i64) (param $b i64) (result i64)
    (i64.div_s (local.get $a) (local.get $b)))
  (func (export "rem") (param $a i64) (param $b i64) (result i64)
    (i64.rem_s (local.get $a) (local.get $b)))

  ;; n! for n >= 0 (wraps past 20!); 1 for n <= 0.
  (func (export "fac") (param $n i64) (result i64)
    (local $acc i64)
    (local.set $acc (i64.const 1))
    (block $done
      (loop $next
        (br_if $done (i64.le_s (local.get $n) (i64.const 1)))
        (local.set $acc (i64.mul (local.get $acc) (local.get $n)))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $acc))

  ;; The n-th Fibonacci number, iteratively (exact up to fib(92)).
  (func (export "fib") (param $n i64) (result i64)
    (local $a i64) (local $b i64) (local $t i64)
    (local.set $b (i64.const 1))
    (block $done
      (loop $next
        (br_if $done (i64.le_s (local.get $n) (i64.const 0)))
        (local.set $t (i64.add (local.get $a) (local.get $b)))
        (local.set $a (local.get $b))
        (local.set $b (local.get $t))
        (local.set $n (i64.sub (local.get $n) (i64.const 1)))
        (br $next)))
    (local.get $a))

  ;; The n-th Fibonacci number, naively recursive: a CPU-bound job (fib_rec(27) takes tens of ms).
  (func $fib_rec (export "fib_rec") (param $n i64) (result i64)
    (if (result i64) (i64.lt_s (local.get $n) (i64.const 2))
      (then (local.get $n))
      (else
        (i64.add
          (call $fib_rec (i64.sub (local.get $n) (i64.const 1)))
          (call $fib_rec (i64.sub (local.get $n) (i64.const 2)))))))

  ;; Floating point: the sum of two f64 values, and a square root.
  (func (export "addf") (param $a f64) (param $b f64) (result f64)
    (f64.add (local.get $a) (local.get $b)))
  (func (export "sqrt") (param $x f64) (result f64)
    (f64.sqrt (local.get $x)))

  ;; Quotient and remainder at once: a multi-value result.
  (func (export "divmod") (param $a i64) (param $b i64) (result i64 i64)
    (i64.div_s (local.get $a) (local.get $b))
    (i64.rem_s (local.get $a) (local.get $b)))
)
