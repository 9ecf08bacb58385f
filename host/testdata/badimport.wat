;; A module that imports a host function ABI v1 does not have.
(module
  (import "plume" "open_socket" (func $open (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "plume_abi_version") (result i32) (i32.const 1)))
