;; spin with an imported-free module that has globals of its own and a
;; nested loop, so the interrupt global gets index 2.
(module
  (global $a (mut i32) (i32.const 0))
  (global $b i64 (i64.const 7))
  (memory (export "memory") 1)
  (func (export "spin") (param i32) (result i32)
    (block $out
      (loop $outer
        (br_if $out (i32.eqz (local.get 0)))
        (global.set $a (i32.add (global.get $a) (i32.const 1)))
        (loop $inner
          (br_if $inner (i32.lt_u (global.get $a) (i32.const 0))))
        (br $outer)))
    (local.get 0)))
