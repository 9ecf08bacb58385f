;; A valid module that is not a Plume plugin: no plume_abi_version export.
(module
  (memory (export "memory") 1)
  (func (export "hello") (result i32) (i32.const 42)))
