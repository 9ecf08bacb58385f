;; spin(n): loops forever unless n is 0. No globals, one export.
(module
  (memory (export "memory") 1)
  (func (export "spin") (param i32) (result i32)
    (block $out
      (loop $l
        (br_if $out (i32.eqz (local.get 0)))
        (br $l)))
    (local.get 0)))
