;; The smallest ABI v1 plugin: it allows every publish and subscribe, without
;; reading the event. A C or AssemblyScript plugin looks like this underneath.
(module
  (import "plume" "declare" (func $declare (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "plume_abi_version") (result i32) (i32.const 1))
  (func (export "plume_init") (param $config_len i32) (result i32)
    (drop (call $declare (i32.const 2))) ;; authorize only
    (i32.const 0))
  (func (export "plume_authorize") (result i64) (i64.const 1)))
