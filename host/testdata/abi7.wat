;; A module that claims a future ABI version.
(module
  (memory (export "memory") 1)
  (func (export "plume_abi_version") (result i32) (i32.const 7))
  (func (export "plume_authorize") (result i64) (i64.const 1)))
